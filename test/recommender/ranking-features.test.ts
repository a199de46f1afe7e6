import t from 'tap';
import {
  RANKING_FEATURE_COUNT,
  RANKING_FEATURES,
  type RankingCatalog,
  rankingRows,
} from '../../src/recommender/ranking/ranking-features.ts';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);

/**
 * Six items. item-knn: 0 → [2 (0.8), 3 (0.4)], 1 → [2 (0.5), 4 (0.6)]; rp3beta: 0 → [5 (0.3)]. Genres: 0 and
 * 2 are genre 0 (drama), 4 is genre 1, 5 has none.
 */
const catalog: RankingCatalog = {
  items: 6,
  sources: {
    'item-knn': {
      ptr: [0, 2, 4, 4, 4, 4, 4],
      index: [2, 3, 2, 4],
      score: [0.8, 0.4, 0.5, 0.6],
    },
    rp3beta: { ptr: [0, 1, 1, 1, 1, 1, 1], index: [5], score: [0.3] },
  },
  popularity: [10, 5, 8, 1, 0, 3],
  popularityRanking: [0, 2, 1, 5, 3],
  trending: [1, 0, 2, 0, 0, 0],
  firstSeen: [NOW - 100 * DAY, NOW - 10 * DAY, NOW - DAY, Number.NaN, NOW, NOW],
  releaseYear: [2001, Number.NaN, 2024, 2026, Number.NaN, Number.NaN],
  genrePtr: [0, 1, 1, 2, 2, 3, 3],
  genreIndex: [0, 0, 1],
};

const column = (name: (typeof RANKING_FEATURES)[number]) => RANKING_FEATURES.indexOf(name);

t.test('candidates: each source and the popular list, never the history or an excluded item', async (t) => {
  const rows = rankingRows(
    catalog,
    { items: [0, 1], weights: [1, 1], now: NOW },
    { perSource: 10, popular: 2, exclude: new Set([3]) },
  );
  t.same([...rows.items].sort(), [2, 4, 5], 'knn 2 and 4 (3 is excluded), rp3beta 5; popular adds 2 and 5');
  t.equal(rows.features.length, rows.items.length * RANKING_FEATURE_COUNT);
  const limited = rankingRows(
    catalog,
    { items: [0, 1], weights: [1, 1], now: NOW },
    { perSource: 1, popular: 0 },
  );
  t.same([...limited.items].sort(), [2, 5], 'perSource keeps each source best');
  const extra = rankingRows(
    catalog,
    { items: [], weights: [], now: NOW },
    { perSource: 5, popular: 1, extra: [4, 99] },
  );
  t.same([...extra.items].sort(), [0, 4], 'no history: the most popular and the extra items in the catalog');
});

t.test('features: scores, ranks and support per source; statistics; genre affinity', async (t) => {
  const rows = rankingRows(
    catalog,
    { items: [0, 1], weights: [1, 0.5], now: NOW },
    { perSource: 10, popular: 0 },
  );
  const row = (item: number) => {
    const at = [...rows.items].indexOf(item);
    return (name: (typeof RANKING_FEATURES)[number]) => {
      const value = rows.features[at * RANKING_FEATURE_COUNT + column(name)]!;
      return Number.isNaN(value) ? value : Math.round(value * 1000) / 1000;
    };
  };
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const two = row(2);
  t.equal(two('item-knn.score'), round(1 * 0.8 + 0.5 * 0.5), 'weighted sum of similarities');
  t.equal(two('item-knn.relative'), 1, 'the best of its source');
  t.equal(two('item-knn.rank'), 1, 'log2(2 + rank 0)');
  t.equal(two('item-knn.support'), 1, 'both history items point to it');
  t.equal(two('item-knn.best'), 0.8);
  t.ok(Number.isNaN(two('rp3beta.score')), 'not proposed by rp3beta: missing');
  t.equal(two('rp3beta.support'), 0);
  t.ok(
    Number.isNaN(two('ease.score')) && Number.isNaN(two('ease.support')),
    'a source that is not there: missing',
  );
  t.equal(two('popularity'), round(Math.log1p(8)));
  t.equal(two('trending'), round(Math.log1p(2)));
  t.equal(two('item.age-days'), 1);
  t.equal(two('item.release-age-years'), 2);
  t.equal(two('genre.affinity-mean'), 0.667, 'drama is 1 of 1.5 of the history weight');
  t.equal(two('user.history'), round(Math.log1p(2)));
  t.ok(Number.isNaN(two('content.similarity')), 'no vectors: missing');
  const four = row(4);
  t.equal(four('item-knn.support'), 0.5);
  t.equal(four('genre.affinity-max'), 0, 'a genre the user never watched');
  t.ok(Number.isNaN(four('popularity.rank')), 'nobody watched it');
  t.ok(Number.isNaN(row(5)('genre.affinity-mean')), 'no genres: missing');
});

t.test('content similarity to the history, type and credits affinity', async (t) => {
  // Unit vectors: items 0 and 1 (the history) point along x and y; 4 is between them, 2 along z.
  const vectors: Record<number, number[]> = {
    0: [1, 0, 0],
    1: [0, 1, 0],
    2: [0, 0, 1],
    4: [Math.SQRT1_2, Math.SQRT1_2, 0],
  };
  const withContent: RankingCatalog = {
    ...catalog,
    vectorOf: (item) => vectors[item],
    // Types: 0, 1 and 4 are movies (0), 2 a series (1). People: 0 and 4 share person 7.
    types: [0, 0, 1, 0, 0, Number.NaN],
    creditPtr: [0, 1, 1, 1, 1, 3, 3],
    creditIndex: [7, 8, 7],
  };
  const rows = rankingRows(
    withContent,
    { items: [0, 1], weights: [1, 1], now: NOW },
    { perSource: 10, popular: 0 },
  );
  const value = (item: number, name: (typeof RANKING_FEATURES)[number]) =>
    rows.features[[...rows.items].indexOf(item) * RANKING_FEATURE_COUNT + column(name)]!;
  t.equal(Math.round(value(4, 'content.similarity') * 1000) / 1000, 1, 'along the mean of the history');
  t.equal(Math.round(value(2, 'content.similarity') * 1000) / 1000, 0, 'orthogonal to it');
  t.ok(Number.isNaN(value(5, 'content.similarity')), 'no vector: missing');
  t.equal(value(4, 'type.affinity'), 1, 'all the history is movies');
  t.equal(value(2, 'type.affinity'), 0, 'none of it is series');
  t.ok(Number.isNaN(value(5, 'type.affinity')), 'unknown type: missing');
  t.equal(value(4, 'credits.affinity'), 0.5, 'person 7 is on half the history');
  t.ok(Number.isNaN(value(2, 'credits.affinity')), 'no credits: missing');
  // A catalog that answers dot products (a process's int8 vectors) gives the same features.
  const dotted = rankingRows(
    {
      ...withContent,
      dotOf: (item, query) => vectors[item]?.reduce((sum, value, d) => sum + value * query[d]!, 0),
    },
    { items: [0, 1], weights: [1, 1], now: NOW },
    { perSource: 10, popular: 0 },
  );
  t.same([...dotted.features], [...rows.features], 'the same features from dot products');
  const cold = rankingRows(
    catalog,
    { items: [0, 1], weights: [1, 1], now: NOW },
    { perSource: 10, popular: 0 },
  );
  t.ok(
    [...cold.items].every((_, row) =>
      Number.isNaN(cold.features[row * RANKING_FEATURE_COUNT + column('content.similarity')]!),
    ),
    'a catalog without vectors leaves it missing',
  );
});
