import fc from 'fast-check';
import t from 'tap';
import {
  catalogCoverage,
  evaluate,
  intraListDiversity,
  ndcgAtK,
  type Rating,
  recallAtK,
  reciprocalRankAtK,
  splitLatestPerUser,
} from '../../src/recommender/evaluation.ts';
import {
  buildInteractionMatrix,
  capUserHistories,
  type Interaction,
  itemColumn,
  userHistory,
  userRow,
} from '../../src/recommender/interactions.ts';
import type { CollaborativeStrategy } from '../../src/recommender/strategies/collaborative-strategy.ts';
import {
  ease,
  EaseTooLargeError,
  invertSymmetricPositiveDefinite,
} from '../../src/recommender/strategies/ease.ts';
import { itemKnn } from '../../src/recommender/strategies/item-knn.ts';
import { popularity } from '../../src/recommender/strategies/popularity.ts';
import { rp3beta } from '../../src/recommender/strategies/rp3beta.ts';
import { TopK } from '../../src/recommender/top-k.ts';

/** Two taste clusters: users a0..a5 watch items A0..A5, users b0..b5 watch B0..B5, each missing one. */
function twoClusters() {
  const events: Interaction[] = [];
  for (const cluster of ['a', 'b']) {
    for (let u = 0; u < 6; u++) {
      for (let i = 0; i < 6; i++) {
        if (i === u) continue; // user u has not seen item u of their cluster
        events.push({ userId: `${cluster}${u}`, itemId: `${cluster.toUpperCase()}${i}`, time: u * 10 + i });
      }
    }
  }
  // One cross-over so the clusters are not disconnected components.
  events.push({ userId: 'b5', itemId: 'A0', time: 100 });
  return buildInteractionMatrix(events);
}

const collaborative: [string, CollaborativeStrategy<object, unknown>, object][] = [
  ['item-knn', itemKnn, {}],
  ['rp3beta', rp3beta, {}],
  ['ease', ease, { lambda: 1 }],
];

t.test('the matrix maps ids to dense indices and agrees by user and by item', async (t) => {
  const matrix = buildInteractionMatrix(
    [
      { userId: 'u2', itemId: 'y', weight: 2, time: 5 },
      { userId: 'u1', itemId: 'x', time: 1 },
      { userId: 'u2', itemId: 'x', weight: 1, time: 3 },
      { userId: 'u2', itemId: 'y', weight: 3, time: 9 }, // repeat: summed, latest time kept
    ],
    { itemIds: ['z', 'y', 'x'] },
  );
  t.same(matrix.itemIds, ['z', 'y', 'x'], 'catalog items come first, in order, even never seen');
  t.same(matrix.userIds, ['u2', 'u1']);
  t.equal(matrix.nnz, 3);
  const u2 = userRow(matrix, matrix.userIndex.get('u2')!);
  t.same([...u2.items], [1, 2], 'items ascending within a row');
  t.same([...u2.weights], [5, 1]);
  t.same([...u2.times], [9, 3]);
  t.same([...itemColumn(matrix, 2).users], [0, 1]);
  t.same([...itemColumn(matrix, 0).users], []);
  t.same([...userHistory(matrix, 'nobody').items], []);

  const max = buildInteractionMatrix(
    [
      { userId: 'u', itemId: 'x', weight: 2, time: 1 },
      { userId: 'u', itemId: 'x', weight: 1, time: 2 },
    ],
    { duplicates: 'max' },
  );
  t.same([...max.byUser.weight], [2]);
  const last = buildInteractionMatrix(
    [
      { userId: 'u', itemId: 'x', weight: 1, time: 2 },
      { userId: 'u', itemId: 'x', weight: 2, time: 1 },
    ],
    { duplicates: 'last' },
  );
  t.same([...last.byUser.weight], [1]);
});

t.test('capping histories keeps each user’s latest items', async (t) => {
  const matrix = buildInteractionMatrix([
    { userId: 'u', itemId: 'a', time: 4 },
    { userId: 'u', itemId: 'b', time: 1 },
    { userId: 'u', itemId: 'c', time: 3 },
    { userId: 'v', itemId: 'b', time: 2 },
  ]);
  const capped = capUserHistories(matrix, 2);
  t.same(
    [...userRow(capped, 0).items].map((i) => capped.itemIds[i]),
    ['a', 'c'],
  );
  t.same(
    [...userRow(capped, 1).items].map((i) => capped.itemIds[i]),
    ['b'],
  );
  t.same([...itemColumn(capped, matrix.itemIndex.get('b')!).users], [1], 'columns rebuilt too');
  t.equal(capUserHistories(matrix, 3), matrix, 'unchanged when nobody exceeds the cap');
});

t.test('TopK returns the best k, best first, ties to the lower index', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 60 }),
      fc.integer({ min: 0, max: 12 }),
      (scores, k) => {
        const top = new TopK(k);
        scores.forEach((score, index) => top.offer(index, score));
        const expected = scores
          .map((score, index) => ({ itemIndex: index, score }))
          .sort((a, b) => b.score - a.score || a.itemIndex - b.itemIndex)
          .slice(0, k);
        t.same(top.drain(), expected);
      },
    ),
    { numRuns: 200 },
  );
});

for (const [name, strategy, params] of collaborative) {
  t.test(`${name}: a user is recommended from their own cluster, never an excluded item`, async (t) => {
    const matrix = twoClusters();
    const model = strategy.train(matrix, params);
    for (const userId of ['a2', 'b3']) {
      const history = userHistory(matrix, userId);
      const recommended = strategy.scoreUser(model, history, { k: 3, exclude: history.items });
      const own = userId[0]!.toUpperCase();
      const missing = `${own}${userId[1]}`;
      t.equal(matrix.itemIds[recommended[0]!.itemIndex], missing, `${userId} gets the one item they lack`);
      for (const { itemIndex } of recommended) {
        t.notOk([...history.items].includes(itemIndex), 'history excluded');
      }
      const scores = recommended.map((r) => r.score);
      t.same(
        scores,
        scores.toSorted((a, b) => b - a),
        'best first',
      );
    }
    const history = userHistory(matrix, 'a2');
    const all = strategy.scoreUser(model, history, { k: 100 });
    const excluded = new Set(all.slice(0, 3).map((r) => r.itemIndex));
    const rest = strategy.scoreUser(model, history, { k: 100, exclude: excluded });
    t.notOk(
      rest.some((r) => excluded.has(r.itemIndex)),
      'excluded items never return',
    );
    t.equal(rest.length, all.length - 3);

    const similar = strategy.similarItems!(model, matrix.itemIndex.get('A1')!, 3);
    t.ok(similar.length > 0);
    t.notOk(
      similar.some((s) => s.itemIndex === matrix.itemIndex.get('A1')),
      'an item is not similar to itself',
    );
    t.ok(
      similar.every((s) => matrix.itemIds[s.itemIndex]!.startsWith('A')),
      'similar items come from the same cluster',
    );
  });
}

t.test('item-knn: cosine similarity computed by hand', async (t) => {
  // x: users {1, 2}; y: users {2, 3}; z: users {1, 2, 3}, binary.
  const events = [
    ['1', 'x'],
    ['2', 'x'],
    ['2', 'y'],
    ['3', 'y'],
    ['1', 'z'],
    ['2', 'z'],
    ['3', 'z'],
  ].map(([userId, itemId]) => ({ userId: userId!, itemId: itemId! }));
  const matrix = buildInteractionMatrix(events);
  const model = itemKnn.train(matrix);
  const [x, y, z] = ['x', 'y', 'z'].map((id) => matrix.itemIndex.get(id)!);
  const similar = itemKnn.similarItems(model, x!, 5);
  t.same(
    similar.map((s) => s.itemIndex),
    [z, y],
  );
  t.ok(Math.abs(similar[0]!.score - 2 / Math.sqrt(6)) < 1e-6, 'cos(x, z) = 2 / (√2·√3)');
  t.ok(Math.abs(similar[1]!.score - 0.5) < 1e-6, 'cos(x, y) = 1 / (√2·√2)');

  const pruned = itemKnn.train(matrix, { neighbours: 1 });
  t.same(
    itemKnn.similarItems(pruned, x!, 5).map((s) => s.itemIndex),
    [z],
    'top-N pruning keeps the best',
  );
  // A user who saw x and y: z scores cos(x, z) + cos(y, z).
  const [scored] = itemKnn.scoreUser(model, { items: [x!, y!] }, { k: 1, exclude: [x!, y!] });
  t.equal(scored?.itemIndex, z);
  t.ok(Math.abs(scored!.score - 4 / Math.sqrt(6)) < 1e-6);

  // The same in a large catalog, where a short history is scored with sparse scratch.
  const catalog = buildInteractionMatrix(events, {
    itemIds: ['x', 'y', 'z', ...Array.from({ length: 100 }, (_, n) => `unseen${n}`)],
  });
  t.same([x, y, z], [0, 1, 2]);
  t.same(
    itemKnn.scoreUser(itemKnn.train(catalog), { items: [x!, y!] }, { k: 5, exclude: [x!] }),
    itemKnn.scoreUser(model, { items: [x!, y!] }, { k: 5, exclude: [x!] }),
  );
});

t.test('rp3beta: random-walk weights computed by hand', async (t) => {
  // u0 saw {0, 1}, u1 saw {1, 2}: item degrees 1, 2, 1; user degrees 2, 2.
  const matrix = buildInteractionMatrix(
    [
      ['u0', 'i0'],
      ['u0', 'i1'],
      ['u1', 'i1'],
      ['u1', 'i2'],
    ].map(([userId, itemId]) => ({ userId: userId!, itemId: itemId! })),
  );
  const weight = (model: ReturnType<typeof rp3beta.train>, from: number, to: number) =>
    rp3beta.similarItems(model, from, 10).find((s) => s.itemIndex === to)?.score;
  const plain = rp3beta.train(matrix, { alpha: 1, beta: 0 });
  t.equal(weight(plain, 0, 1), 0.5, 'P(0→u0)·P(u0→1) = 1 · 1/2');
  t.equal(weight(plain, 1, 0), 0.25, 'P(1→u0)·P(u0→0) = 1/2 · 1/2');
  t.equal(weight(plain, 0, 2), undefined, 'no two-step path from 0 to 2');
  const penalised = rp3beta.train(matrix, { alpha: 1, beta: 1 });
  t.equal(weight(penalised, 0, 1), 0.25, 'divided by deg(1) = 2');
  t.equal(weight(penalised, 1, 2), 0.25, 'deg(2) = 1 leaves it');
});

t.test('ease: two items match the closed form B_ij = G_ij / G_ii', async (t) => {
  // Item p seen by 3 users, q by 2, together by 2; λ = 1: G = [[4, 2], [2, 3]].
  const matrix = buildInteractionMatrix(
    [
      ['1', 'p'],
      ['2', 'p'],
      ['3', 'p'],
      ['1', 'q'],
      ['2', 'q'],
    ].map(([userId, itemId]) => ({ userId: userId!, itemId: itemId! })),
  );
  const model = ease.train(matrix, { lambda: 1 });
  const [p, q] = [matrix.itemIndex.get('p')!, matrix.itemIndex.get('q')!];
  t.ok(Math.abs(ease.similarItems(model, p, 1)[0]!.score - 2 / 4) < 1e-6, 'B[p][q] = 2 / 4');
  t.ok(Math.abs(ease.similarItems(model, q, 1)[0]!.score - 2 / 3) < 1e-6, 'B[q][p] = 2 / 3');
  const scores = ease.scoreUser(model, { items: [p] }, { k: 2 });
  t.same(
    scores.map((s) => s.itemIndex),
    [q, p],
  );
  t.equal(scores[1]!.score, 0, 'the diagonal is zero: an item never predicts itself');
});

t.test('ease: the inverse is exact on random positive-definite matrices, odd and even', async (t) => {
  for (const n of [1, 2, 3, 6, 7]) {
    let seed = n;
    const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
    const x = Array.from({ length: n + 3 }, () => Array.from({ length: n }, () => random()));
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        a[i * n + j] = x.reduce((sum, row) => sum + row[i]! * row[j]!, i === j ? 0.5 : 0);
      }
    }
    const inverse = invertSymmetricPositiveDefinite(a, n);
    let error = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let k = 0; k < n; k++) sum += a[i * n + k]! * inverse[k * n + j]!;
        error = Math.max(error, Math.abs(sum - (i === j ? 1 : 0)));
      }
    }
    t.ok(error < 1e-9, `A·A⁻¹ = I for n = ${n} (error ${error})`);
  }
});

t.test('ease refuses a catalog too large for a dense inverse, or trains on the most popular', async (t) => {
  const matrix = twoClusters();
  t.throws(() => ease.train(matrix, { maxItems: 5 }), EaseTooLargeError);
  const model = ease.train(matrix, { maxItems: 5, tooManyItems: 'most-popular' });
  t.equal(model.items.length, 5);
  t.same(
    [...model.items].map((i) => matrix.itemIds[i]).sort(),
    ['A0', 'A1', 'A2', 'A3', 'A4'],
    'A0 (6 users), then the first four of the 5-user items by index',
  );
});

t.test('popularity: counts, optional time decay, exclusion', async (t) => {
  const matrix = buildInteractionMatrix([
    { userId: '1', itemId: 'old', time: 0 },
    { userId: '2', itemId: 'old', time: 0 },
    { userId: '3', itemId: 'old', time: 0 },
    { userId: '1', itemId: 'new', time: 100 },
    { userId: '2', itemId: 'new', time: 100 },
  ]);
  const [old, fresh] = [matrix.itemIndex.get('old')!, matrix.itemIndex.get('new')!];
  const counts = popularity.train(matrix);
  t.same(popularity.scoreUser(counts, { items: [] }, { k: 5 }), [
    { itemIndex: old, score: 3 },
    { itemIndex: fresh, score: 2 },
  ]);
  const decayed = popularity.train(matrix, { halfLife: 50 });
  t.same(popularity.scoreUser(decayed, { items: [] }, { k: 5 }), [
    { itemIndex: fresh, score: 2 },
    { itemIndex: old, score: 0.75 },
  ]);
  t.same(
    popularity.scoreUser(counts, { items: [] }, { k: 5, exclude: [old] }).map((s) => s.itemIndex),
    [fresh],
  );
});

t.test('metrics on a hand-made list', async (t) => {
  const recommended = ['a', 'b', 'c', 'd'];
  const relevant = new Set(['b', 'd', 'x']);
  t.equal(recallAtK(recommended, relevant, 4), 2 / 3);
  t.equal(recallAtK(recommended, relevant, 2), 1 / 3);
  const dcg = 1 / Math.log2(3) + 1 / Math.log2(5);
  const ideal = 1 + 1 / Math.log2(3) + 1 / Math.log2(4);
  t.ok(Math.abs(ndcgAtK(recommended, relevant, 4) - dcg / ideal) < 1e-12);
  t.ok(Math.abs(ndcgAtK(recommended, relevant, 2) - 1 / Math.log2(3) / (1 + 1 / Math.log2(3))) < 1e-12);
  t.equal(ndcgAtK(['b', 'd'], new Set(['b', 'd']), 10), 1, 'ideal list');
  t.equal(reciprocalRankAtK(recommended, relevant, 4), 1 / 2);
  t.equal(reciprocalRankAtK(recommended, relevant, 1), 0);
  t.equal(
    catalogCoverage(
      [
        ['a', 'b'],
        ['b', 'c'],
      ],
      10,
    ),
    0.3,
  );
  const genres = new Map([
    ['a', new Set(['drama'])],
    ['b', new Set(['drama', 'comedy'])],
    ['c', new Set(['horror'])],
  ]);
  // pairs: a-b 1 − 1/2, a-c 1, b-c 1
  t.equal(
    intraListDiversity(['a', 'b', 'c'], (id) => genres.get(id)),
    (0.5 + 1 + 1) / 3,
  );
  t.equal(
    intraListDiversity(['a'], (id) => genres.get(id)),
    undefined,
  );
});

t.test('the split holds out each user’s latest 20%, ties by item id, small users train only', async (t) => {
  const ratings: Rating[] = [];
  const add = (userId: string, count: number) => {
    for (let n = 0; n < count; n++) ratings.push({ userId, itemId: `i${n}`, rating: 5, time: count - n });
  };
  add('ten', 10);
  add('four', 4);
  add('five', 5);
  add('seven', 7);
  add('eight', 8);
  ratings.push(
    { userId: 'tie', itemId: 'b', rating: 5, time: 1 },
    { userId: 'tie', itemId: 'c', rating: 5, time: 2 },
    { userId: 'tie', itemId: 'a', rating: 5, time: 2 },
    { userId: 'tie', itemId: 'd', rating: 5, time: 0 },
    { userId: 'tie', itemId: 'e', rating: 5, time: 0 },
  );
  const split = splitLatestPerUser(ratings);
  const held = (userId: string) => split.test.get(userId)?.map((r) => r.itemId);
  t.same(held('ten'), ['i1', 'i0'], 'latest two, oldest first');
  t.equal(held('four'), undefined);
  t.equal(split.train.filter((r) => r.userId === 'four').length, 4, 'fewer than 5 ratings: training only');
  t.same(held('five'), ['i0']);
  t.same(held('seven'), ['i0'], 'round(1.4) = 1');
  t.same(held('eight'), ['i1', 'i0'], 'round(1.6) = 2');
  t.same(held('tie'), ['c'], 'at equal times, the greater item id is the later');
  t.equal(split.train.length + [...split.test.values()].flat().length, ratings.length);
});

t.test('evaluate: training items are filtered, users without a relevant item skipped', async (t) => {
  const train = buildInteractionMatrix(
    [
      { userId: 'u', itemId: 'seen' },
      { userId: 'v', itemId: 'seen' },
    ],
    { itemIds: ['seen', 'hit', 'miss', 'other'] },
  );
  const [seen, hit, miss] = ['seen', 'hit', 'miss'].map((id) => train.itemIndex.get(id)!);
  const test = new Map<string, Rating[]>([
    [
      'u',
      [
        { userId: 'u', itemId: 'hit', rating: 4, time: 9 },
        { userId: 'u', itemId: 'other', rating: 3, time: 9 },
      ],
    ],
    ['v', [{ userId: 'v', itemId: 'miss', rating: 2, time: 9 }]], // nothing relevant: skipped
  ]);
  const asked: number[] = [];
  const result = evaluate({
    train,
    test,
    k: 2,
    recommend: (u, { exclude }) => {
      asked.push(u);
      t.ok(exclude.has(seen!), 'told to exclude training items');
      return [seen!, miss!, hit!]; // a leaky recommender
    },
    genresOf: () => new Set(['drama']),
  });
  t.same(asked, [train.userIndex.get('u')]);
  t.equal(result.users, 1);
  t.equal(result.recall, 1, 'the training item is dropped, so hit makes the top 2');
  t.equal(result.mrr, 1 / 2);
  t.equal(result.ndcg, 1 / Math.log2(3));
  t.equal(result.coverage, 2 / 4);
  t.equal(result.diversity, 0);
});
