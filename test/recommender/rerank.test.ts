import fc from 'fast-check';
import t from 'tap';
import { blendCandidates } from '../../src/recommender/blend.ts';
import { allowedMaturity, maturityAge } from '../../src/recommender/item-filters.ts';
import {
  itemSimilarity,
  type RankableCandidate,
  rerank,
  seededRandom,
} from '../../src/recommender/rerank.ts';

const candidate = (
  itemId: string,
  score: number,
  genres: string[],
  seriesId: string | null = null,
): RankableCandidate => ({
  itemId,
  score,
  reasons: [],
  genres,
  seriesId,
  embedding: undefined,
});
const base = { diversity: 0, maxPerSeries: 0, maxPerGenre: 0, explorationSlots: 0, seed: 's' };

t.test('blend: min-max per source, weighted sum, reasons by contribution', async (t) => {
  const blended = blendCandidates(
    [
      {
        source: 'collaborative',
        candidates: [
          { itemId: 'a', score: 10, detail: 'c-a', evidenceItemIds: ['x'] },
          { itemId: 'b', score: 0, detail: 'c-b', evidenceItemIds: [] },
        ],
      },
      {
        source: 'vector',
        candidates: [
          { itemId: 'b', score: 0.9, detail: 'v-b', evidenceItemIds: [] },
          { itemId: 'c', score: 0.5, detail: 'v-c', evidenceItemIds: [] },
        ],
      },
      { source: 'trending', candidates: [{ itemId: 'z', score: 5, detail: 't', evidenceItemIds: [] }] },
    ],
    { collaborative: 1, vector: 0.5 },
  );
  // a: 1; b: 0.1 (collaborative floor) + 0.5 (vector top); c: 0.05; trending weighs 0 and is left out.
  t.same(
    blended.map((entry) => [entry.itemId, Math.round(entry.score * 1000) / 1000]),
    [
      ['a', 1],
      ['b', 0.6],
      ['c', 0.05],
    ],
  );
  t.same(
    blended[1]!.reasons.map((reason) => reason.source),
    ['vector', 'collaborative'],
    'the larger contribution first',
  );
});

t.test('rerank: by score at diversity 0, spread by MMR as diversity rises', async (t) => {
  const list = [
    candidate('a1', 1.0, ['a']),
    candidate('a2', 0.99, ['a']),
    candidate('a3', 0.98, ['a']),
    candidate('b1', 0.8, ['b']),
    candidate('c1', 0.7, ['c']),
  ];
  t.same(
    rerank(list, { ...base, size: 3 }).map((entry) => entry.itemId),
    ['a1', 'a2', 'a3'],
  );
  t.same(
    rerank(list, { ...base, size: 3, diversity: 0.5 }).map((entry) => entry.itemId),
    ['a1', 'b1', 'c1'],
  );
});

t.test('rerank: caps per series and genre wait, then fill a page that would be short', async (t) => {
  const list = [
    candidate('e1', 1.0, ['drama'], 'show'),
    candidate('e2', 0.9, ['drama'], 'show'),
    candidate('e3', 0.8, ['drama'], 'show'),
    candidate('m1', 0.5, ['comedy']),
  ];
  t.same(
    rerank(list, { ...base, size: 3, maxPerSeries: 1 }).map((entry) => entry.itemId),
    ['e1', 'm1', 'e2'],
    'one episode, then the movie, then the cap gives way rather than a short page',
  );
  t.same(
    rerank(list, { ...base, size: 2, maxPerGenre: 1 }).map((entry) => entry.itemId),
    ['e1', 'm1'],
  );
});

t.test(
  'rerank: exploration takes a fixed slot from lower-ranked candidates, deterministically',
  async (t) => {
    const list = Array.from({ length: 40 }, (_, n) => candidate(`i${n}`, 100 - n, [`g${n % 5}`]));
    const options = { ...base, size: 10, explorationSlots: 1, seed: 'user-1' };
    const first = rerank(list, options);
    const again = rerank(list, options);
    t.same(
      again.map((entry) => entry.itemId),
      first.map((entry) => entry.itemId),
    );
    const explored = first.filter((entry) => entry.reasons[0]?.source === 'exploration');
    t.equal(explored.length, 1);
    t.equal(first.indexOf(explored[0]!), 7, 'the eighth position');
    t.ok(Number(explored[0]!.itemId.slice(1)) >= 20, `from the lower half (${explored[0]!.itemId})`);
    const deeper = rerank(list, { ...options, size: 30 });
    t.same(
      deeper.slice(0, 10).map((entry) => entry.itemId),
      first.map((entry) => entry.itemId),
      'a deeper list starts with the shorter one (cursor pages continue it)',
    );
    t.equal(new Set(deeper.map((entry) => entry.itemId)).size, 30, 'no item twice');
  },
);

t.test('seeded random is deterministic and spread', async (t) => {
  const a = seededRandom('x');
  const b = seededRandom('x');
  const values = Array.from({ length: 1000 }, () => a());
  t.same(
    Array.from({ length: 1000 }, () => b()),
    values,
  );
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  t.ok(mean > 0.45 && mean < 0.55 && values.every((value) => value >= 0 && value < 1));
});

t.test('maturity scale', async (t) => {
  t.equal(maturityAge('PG-13'), 13);
  t.equal(maturityAge('tv-ma'), 17);
  t.equal(maturityAge('16+'), 16);
  t.equal(maturityAge('XYZ'), undefined);
  t.same(
    allowedMaturity('PG')?.labels.sort(),
    ['G', 'PG', 'TV-G', 'TV-PG', 'TV-Y', 'TV-Y7', 'TV-Y7-FV', 'U'].sort(),
  );
  t.equal(allowedMaturity('nope'), undefined);
});

/**
 * MMR as it was first written: every candidate's similarity to each pick computed as soon as it is picked,
 * every candidate looked at at every step (no exploration). rerank computes less and must pick the same.
 */
function eagerMmr(candidates: readonly RankableCandidate[], options: Parameters<typeof rerank>[1]): string[] {
  const size = Math.min(options.size, candidates.length);
  const maxScore = Math.max(...candidates.map((candidate) => candidate.score), Number.EPSILON);
  const relevance = candidates.map((candidate) => Math.max(0, candidate.score) / maxScore);
  const genreSets = candidates.map((candidate) => new Set(candidate.genres));
  const lambda = 1 - options.diversity;
  const maxSimilarity = new Float64Array(candidates.length);
  const taken = new Uint8Array(candidates.length);
  const series = new Map<string, number>();
  const genres = new Map<string, number>();
  const picked: number[] = [];
  const breaksCap = (index: number) => {
    const candidate = candidates[index]!;
    if (options.maxPerSeries > 0 && candidate.seriesId !== null)
      if ((series.get(candidate.seriesId) ?? 0) >= options.maxPerSeries) return true;
    if (options.maxPerGenre > 0)
      for (const genre of candidate.genres) if ((genres.get(genre) ?? 0) >= options.maxPerGenre) return true;
    return false;
  };
  let relaxCaps = false;
  while (picked.length < size) {
    let best = -1;
    let bestValue = -Infinity;
    for (let index = 0; index < candidates.length; index++) {
      if (taken[index] || (!relaxCaps && breaksCap(index))) continue;
      const value = lambda * relevance[index]! - (1 - lambda) * maxSimilarity[index]!;
      if (value > bestValue) {
        bestValue = value;
        best = index;
      }
    }
    if (best < 0) {
      if (relaxCaps) break;
      relaxCaps = true;
      continue;
    }
    taken[best] = 1;
    picked.push(best);
    const candidate = candidates[best]!;
    if (candidate.seriesId !== null)
      series.set(candidate.seriesId, (series.get(candidate.seriesId) ?? 0) + 1);
    for (const genre of candidate.genres) genres.set(genre, (genres.get(genre) ?? 0) + 1);
    if (options.diversity > 0)
      for (let other = 0; other < candidates.length; other++) {
        if (taken[other]) continue;
        const similarity = itemSimilarity(candidate, candidates[other]!, genreSets[best]!, genreSets[other]!);
        if (similarity > maxSimilarity[other]!) maxSimilarity[other] = similarity;
      }
  }
  return picked.map((index) => candidates[index]!.itemId);
}

t.test('MMR computes similarities lazily and picks exactly what the eager version picks', async (t) => {
  const genrePool = ['drama', 'comedy', 'horror', 'documentary', 'anime'];
  const candidate = fc.record({
    score: fc.oneof(fc.constantFrom(0, 0.5, 1), fc.double({ min: -0.2, max: 3, noNaN: true })),
    genres: fc.uniqueArray(fc.constantFrom(...genrePool), { maxLength: 3 }),
    series: fc.option(fc.constantFrom('s1', 's2'), { nil: null }),
    embedding: fc.option(
      fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 4, maxLength: 4 }),
      {
        nil: undefined,
      },
    ),
  });
  fc.assert(
    fc.property(
      fc.array(candidate, { minLength: 1, maxLength: 60 }),
      fc.record({
        size: fc.integer({ min: 1, max: 30 }),
        diversity: fc.constantFrom(0, 0.1, 0.3, 0.5, 0.9, 1),
        maxPerSeries: fc.integer({ min: 0, max: 2 }),
        maxPerGenre: fc.integer({ min: 0, max: 4 }),
        sorted: fc.boolean(),
      }),
      (drawn, { sorted, ...rest }) => {
        const candidates: RankableCandidate[] = drawn.map((entry, index) => {
          const norm = entry.embedding ? Math.hypot(...entry.embedding) || 1 : 1;
          return {
            itemId: `i${index}`,
            score: entry.score,
            reasons: [],
            genres: entry.genres,
            seriesId: entry.series,
            embedding: entry.embedding && Float32Array.from(entry.embedding, (value) => value / norm),
          };
        });
        if (sorted) candidates.sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1));
        const options = { ...rest, explorationSlots: 0, seed: 'x' };
        const lazy = rerank(candidates, options).map((entry) => entry.itemId);
        t.same(lazy, eagerMmr(candidates, options));
        return true;
      },
    ),
    { numRuns: 300, seed: 20261202 },
  );
});

t.test('rerank: a new item close to the taste takes the new-item slot; others wait their turn', async (t) => {
  const list = Array.from({ length: 30 }, (_, n) => candidate(`k${n}`, 1 - n / 100, [`g${n}`]));
  list.push({ ...candidate('new-close', 0.05, ['x']), newItemContent: 0.9 });
  list.push({ ...candidate('new-closer', 0.04, ['y']), newItemContent: 0.95 });
  list.push(candidate('new-far', 0.5, ['z']));
  const ids = (slots: number, size = 10) =>
    rerank(list, { ...base, size, newItemSlots: slots }).map((entry) => entry.itemId);
  const one = ids(1);
  t.equal(one[2], 'new-closer', 'the closest new item takes position 2');
  t.notOk(one.includes('new-close'), 'one slot in 10: the next new item waits');
  t.equal(ids(1, 20)[12], 'new-close', 'and takes the slot of the next 10');
  t.notOk(
    ids(0).some((id) => id.startsWith('new-c')),
    'no slot: new items keep their scores',
  );
  t.same(ids(1, 20).slice(0, 10), one, 'a deeper page continues the same list');
});

t.test(
  'the list for a smaller size is the start of the list for a larger one (a page computes its window only, ' +
    'and a deeper page continues it), exploration and new-item slots included',
  async (t) => {
    const genrePool = ['drama', 'comedy', 'horror', 'documentary'];
    const drawnCandidate = fc.record({
      score: fc.double({ min: 0, max: 3, noNaN: true }),
      genres: fc.uniqueArray(fc.constantFrom(...genrePool), { maxLength: 2 }),
      series: fc.option(fc.constantFrom('s1', 's2'), { nil: null }),
      angle: fc.double({ min: 0, max: 6.28, noNaN: true }),
      newContent: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    });
    fc.assert(
      fc.property(
        fc.array(drawnCandidate, { minLength: 1, maxLength: 140 }),
        fc.record({
          small: fc.integer({ min: 1, max: 25 }),
          extra: fc.integer({ min: 1, max: 40 }),
          diversity: fc.constantFrom(0, 0.3, 0.7),
          maxPerSeries: fc.integer({ min: 0, max: 2 }),
          maxPerGenre: fc.integer({ min: 0, max: 4 }),
          explorationSlots: fc.integer({ min: 0, max: 2 }),
          newItemSlots: fc.integer({ min: 0, max: 1 }),
        }),
        (drawn, { small, extra, ...options }) => {
          const candidates: RankableCandidate[] = drawn
            .map((entry, index) => ({
              itemId: `i${String(index).padStart(3, '0')}`,
              score: entry.score,
              reasons: [],
              genres: entry.genres,
              seriesId: entry.series,
              embedding: Float32Array.of(Math.cos(entry.angle), Math.sin(entry.angle)),
              ...(entry.newContent !== undefined && { newItemContent: entry.newContent }),
            }))
            .sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1));
          const settings = { ...options, seed: 'page' };
          const shorter = rerank(candidates, { ...settings, size: small }).map((entry) => entry.itemId);
          const longer = rerank(candidates, { ...settings, size: small + extra }).map(
            (entry) => entry.itemId,
          );
          t.same(shorter, longer.slice(0, shorter.length));
          return true;
        },
      ),
      { numRuns: 300, seed: 20261207 },
    );
  },
);
