import t from 'tap';
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
