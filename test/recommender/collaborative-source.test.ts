import t from 'tap';
import fc from 'fast-check';
import { type CandidateStore, collaborativeCandidates } from '../../src/recommender/sources.ts';

const lists: Record<string, { neighbourIds: string[]; scores: number[] }> = {
  h1: { neighbourIds: ['a', 'b', 'c', 'seen'], scores: [0.9, 0.5, 0.1, 0.8] },
  h2: { neighbourIds: ['b', 'c', 'd'], scores: [0.6, 0.7, 0.2] },
  h3: { neighbourIds: ['c', 'a'], scores: [0.4, -0.5] },
};

const store = {
  neighbours: (itemIds: readonly string[]) =>
    Promise.resolve(new Map(itemIds.flatMap((id) => (lists[id] ? [[id, lists[id]] as const] : [])))),
} as unknown as CandidateStore;

t.test(
  'collaborative source: weighted sums over the history, exclusions, the limit, and the two history items ' +
    'contributing most as evidence',
  async (t) => {
    const history = [
      { itemId: 'h1', weight: 1 },
      { itemId: 'h2', weight: 0.5 },
      { itemId: 'h3', weight: 2 },
      { itemId: 'disliked', weight: -1 },
    ];
    const titles: Record<string, string> = { h1: 'One', h2: 'Two', h3: 'Three' };
    const found = await collaborativeCandidates(
      store,
      history,
      { limit: 3, filters: {}, excludeIds: ['seen'] },
      (id) => titles[id],
    );
    t.equal(found.source, 'collaborative');
    // c: 0.1 + 0.35 + 0.8 = 1.25; a: 0.9 (h3's negative similarity adds nothing); b: 0.5 + 0.3 = 0.8; d: 0.1
    t.same(
      found.candidates.map((candidate) => [candidate.itemId, Number(candidate.score.toFixed(6))]),
      [
        ['c', 1.25],
        ['a', 0.9],
        ['b', 0.8],
      ],
    );
    t.same(
      found.candidates.map((candidate) => candidate.evidenceItemIds),
      [['h3', 'h2'], ['h1'], ['h1', 'h2']],
    );
    t.equal(found.candidates[0]?.detail, 'People who watched "Three", "Two" also watched this');
    const none = await collaborativeCandidates(
      store,
      [{ itemId: 'h1', weight: 0 }],
      {
        limit: 3,
        filters: {},
        excludeIds: [],
      },
      () => undefined,
    );
    t.same(none.candidates, []);
  },
);

t.test(
  'collaborative source: the limit keeps what a sort of every reached item would, ties by id',
  async (t) => {
    // Scores from a few values, so that many items tie at the limit's score.
    const score = fc.constantFrom(0.25, 0.5, 0.75, 1);
    const lists = fc.dictionary(
      fc.constantFrom('h1', 'h2', 'h3', 'h4'),
      fc.array(
        fc.tuple(
          fc.integer({ min: 0, max: 40 }).map((n) => `i${n}`),
          score,
        ),
        { maxLength: 30 },
      ),
    );
    await fc.assert(
      fc.asyncProperty(lists, fc.integer({ min: 1, max: 50 }), async (drawn, limit) => {
        const stored = new Map(
          Object.entries(drawn).map(([id, pairs]) => {
            const unique = [...new Map(pairs)];
            return [id, { neighbourIds: unique.map(([n]) => n), scores: unique.map(([, s]) => s) }] as const;
          }),
        );
        const history = ['h1', 'h2', 'h3', 'h4'].map((itemId, at) => ({ itemId, weight: 1 + at }));
        const found = await collaborativeCandidates(
          { neighbours: () => Promise.resolve(stored) } as unknown as CandidateStore,
          history,
          { limit, filters: {}, excludeIds: [] },
          () => undefined,
        );
        const sums = new Map<string, number>();
        for (const { itemId, weight } of history)
          stored
            .get(itemId)
            ?.neighbourIds.forEach((n, at) =>
              sums.set(n, (sums.get(n) ?? 0) + weight * stored.get(itemId)!.scores[at]!),
            );
        const expected = [...sums]
          .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
          .slice(0, limit)
          .map(([id]) => id);
        t.same(
          found.candidates.map((candidate) => candidate.itemId),
          expected,
        );
      }),
      { numRuns: 200 },
    );
  },
);
