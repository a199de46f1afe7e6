import t from 'tap';
import { blendCandidates } from '../../src/recommender/blend.ts';
import { allowedMaturity, maturityAge } from '../../src/recommender/item-filters.ts';
import { type RankableCandidate, rerank, seededRandom } from '../../src/recommender/rerank.ts';

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
