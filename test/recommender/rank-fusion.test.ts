import fc from 'fast-check';
import t from 'tap';
import { reciprocalRankFusion, RRF_K } from '../../src/recommender/rank-fusion.ts';

t.test('reciprocal-rank fusion sums weight / (k + rank) over the lists', async (t) => {
  const fused = reciprocalRankFusion([
    { name: 'text', weight: 1, ids: ['a', 'b', 'a', 'c'] },
    { name: 'vector', weight: 1, ids: ['b', 'd'] },
    { name: 'taste', weight: 0.5, ids: ['d', 'c'] },
    { name: 'off', weight: 0, ids: ['z'] },
  ]);
  t.same(
    fused.map((item) => item.id),
    ['b', 'd', 'c', 'a'],
    'in two lists beats first in one; a repeat counts once; weight 0 ignored',
  );
  t.equal(fused[0]!.score, 1 / (RRF_K + 2) + 1 / (RRF_K + 1));
  t.same(fused[1]!.contributions, [
    { name: 'vector', rank: 2, score: 1 / (RRF_K + 2) },
    { name: 'taste', rank: 1, score: 0.5 / (RRF_K + 1) },
  ]);
  t.equal(
    fused.find((item) => item.id === 'c')!.score,
    1 / (RRF_K + 3) + 0.5 / (RRF_K + 2),
    'c at its third rank',
  );
  t.same(
    reciprocalRankFusion([
      { name: 'x', weight: 1, ids: ['q', 'p'] },
      { name: 'y', weight: 1, ids: ['p', 'q'] },
    ]).map((item) => item.id),
    ['p', 'q'],
    'a tie goes to the smaller id when the best ranks tie too',
  );
});

t.test('fused scores descend and add up the contributions (property)', async () => {
  const ids = fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), { maxLength: 8 });
  const lists = fc.array(
    fc.record({
      name: fc.constantFrom('x', 'y', 'z'),
      weight: fc.double({ min: 0, max: 2, noNaN: true }),
      ids,
    }),
    { maxLength: 4 },
  );
  fc.assert(
    fc.property(lists, (input) => {
      const fused = reciprocalRankFusion(input);
      for (let index = 1; index < fused.length; index++)
        if (fused[index - 1]!.score < fused[index]!.score) return false;
      return fused.every(
        (item) =>
          Math.abs(item.score - item.contributions.reduce((sum, part) => sum + part.score, 0)) < 1e-12,
      );
    }),
  );
});
