import t from 'tap';
import {
  LAMBDA_MART_DEFAULTS,
  type RankingDataset,
  featureContributions,
  featureImportance,
  meanNdcg,
  scoreRow,
  scoreRows,
  trainLambdaMart,
} from '../../src/recommender/ranking/lambda-mart.ts';

/** A seeded generator, so a failure reproduces. */
function random(seed: number) {
  return () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
}

/**
 * Queries of 30 rows and 3 features: relevance is decided by feature 1 being above 0.7 and feature 2 below
 * 0.5 (an interaction no single feature orders), feature 0 is noise, some of feature 2 is missing.
 */
function synthetic(queries: number, seed: number): RankingDataset {
  const next = random(seed);
  const width = 3;
  const rows = queries * 30;
  const features = new Float32Array(rows * width);
  const labels = new Float32Array(rows);
  const queryOffsets = Uint32Array.from({ length: queries + 1 }, (_, q) => q * 30);
  for (let r = 0; r < rows; r++) {
    const noise = next();
    const a = next();
    const b = next() < 0.1 ? Number.NaN : next();
    features.set([noise, a, b], r * width);
    labels[r] = a > 0.7 && !(b >= 0.5) ? 1 : 0;
  }
  return { features, width, labels, queryOffsets };
}

t.test('learns an interaction of two features and ranks held-out queries by it', async (t) => {
  const train = synthetic(200, 7);
  const validation = synthetic(50, 11);
  const test = synthetic(100, 13);
  const result = trainLambdaMart(train, validation, {
    ...LAMBDA_MART_DEFAULTS,
    trees: 60,
    learningRate: 0.1,
    leaves: 8,
    minLeafRows: 20,
    bins: 32,
    patience: 20,
  });
  const given = meanNdcg(test, new Float64Array(test.labels.length), 10);
  const learned = meanNdcg(test, scoreRows(result.model, test.features, test.width), 10);
  t.ok(
    learned > 0.95,
    `NDCG@10 on unseen queries ${learned.toFixed(3)} (in the given order ${given.toFixed(3)})`,
  );
  t.ok(given < 0.6, 'the given order is far from it');
  const importance = featureImportance(result.model, result.gains);
  t.ok(importance[1]! > importance[0]! && importance[2]! > importance[0]!, 'the noise feature matters least');
  t.ok(result.validationCurve.length >= result.model.roots.length, 'validation measured after each tree');
});

t.test('per-row contributions add up to the score and credit the features that decide it', async (t) => {
  const train = synthetic(200, 7);
  const { model } = trainLambdaMart(train, synthetic(50, 11), {
    ...LAMBDA_MART_DEFAULTS,
    trees: 40,
    learningRate: 0.1,
    leaves: 8,
    minLeafRows: 20,
    bins: 32,
    patience: 20,
  });
  const rootValues = model.roots.reduce((sum, root) => sum + model.value[root]!, 0);
  // A relevant row (a high, b low) and an irrelevant one (a low).
  for (const row of [
    [0.5, 0.9, 0.2],
    [0.5, 0.1, 0.2],
  ]) {
    const contributions = featureContributions(model, row);
    const total = contributions.reduce((sum, value) => sum + value, rootValues);
    t.equal(
      total.toFixed(6),
      scoreRow(model, row).toFixed(6),
      `contributions of ${row.join()} add up to its score`,
    );
    t.ok(
      Math.abs(contributions[1]!) > Math.abs(contributions[0]!),
      `feature a moves ${row.join()} more than the noise (${contributions[1]!.toFixed(3)} vs ${contributions[0]!.toFixed(3)})`,
    );
  }
  t.ok(featureContributions(model, [0.5, 0.9, 0.2])[1]! > 0, 'a high a pushes a row up');
  t.ok(featureContributions(model, [0.5, 0.1, 0.2])[1]! < 0, 'a low a pushes a row down');
});

t.test('stops early and keeps the best number of trees', async (t) => {
  const train = synthetic(40, 3);
  const validation = synthetic(20, 5);
  const result = trainLambdaMart(train, validation, {
    ...LAMBDA_MART_DEFAULTS,
    learningRate: 0.3,
    leaves: 31,
    minLeafRows: 1,
    l2: 0,
    patience: 10,
  });
  t.ok(result.validationCurve.length < 400, `stopped after ${result.validationCurve.length} trees`);
  const best = Math.max(...result.validationCurve);
  t.equal(
    result.model.roots.length,
    result.validationCurve.indexOf(best) + 1,
    'kept the trees of the best score',
  );
  t.equal(result.validationNdcg, best);
});

t.test('a stored model scores the same after a JSON round trip, and missing values go left', async (t) => {
  const train = synthetic(50, 17);
  const { model } = trainLambdaMart(train, undefined, {
    ...LAMBDA_MART_DEFAULTS,
    trees: 10,
    learningRate: 0.1,
    leaves: 4,
    minLeafRows: 10,
    bins: 16,
  });
  t.equal(model.roots.length, 10, 'without validation every tree is kept');
  const copy = JSON.parse(JSON.stringify(model)) as typeof model;
  const rows = [
    [0.1, 0.9, 0.2],
    [0.5, 0.2, Number.NaN],
    [Number.NaN, Number.NaN, Number.NaN],
  ];
  for (const row of rows) t.equal(scoreRow(copy, row), scoreRow(model, row));
  // A single split on feature 1: NaN must follow the low side.
  const stump = {
    width: 1,
    base: [],
    roots: [0],
    feature: [0, -1, -1],
    threshold: [0.5, 0, 0],
    left: [1, -1, -1],
    right: [2, -1, -1],
    value: [0, -1, 1],
  };
  t.equal(scoreRow(stump, [0.2]), -1);
  t.equal(scoreRow(stump, [0.8]), 1);
  t.equal(scoreRow(stump, [Number.NaN]), -1);
});

t.test('a linear base starts the scores, and trees refine it', async (t) => {
  const data: RankingDataset = {
    features: Float32Array.from([0.2, 0.9, Number.NaN]),
    width: 1,
    labels: Float32Array.from([0, 1, 0]),
    queryOffsets: Uint32Array.from([0, 3]),
  };
  const { model } = trainLambdaMart(
    data,
    undefined,
    { trees: 0, learningRate: 0.1, leaves: 2, minLeafRows: 1, l2: 1, bins: 8, k: 10, patience: 1 },
    [2],
  );
  t.same(
    Array.from(scoreRows(model, data.features, 1), (x) => Math.round(x * 100) / 100),
    [0.4, 1.8, 0],
  );
  t.equal(meanNdcg(data, scoreRows(model, data.features, 1), 10), 1);
});

t.test('NDCG: perfect, reversed, and queries without a relevant row are skipped', async (t) => {
  const data: RankingDataset = {
    features: new Float32Array(5),
    width: 1,
    labels: Float32Array.from([1, 0, 0, 0, 0]),
    queryOffsets: Uint32Array.from([0, 2, 5]),
  };
  t.equal(meanNdcg(data, [2, 1, 0, 0, 0], 10), 1);
  t.equal(meanNdcg(data, [1, 2, 0, 0, 0], 10), 1 / Math.log2(3));
});
