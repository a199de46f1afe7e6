/**
 * Offline quality of the collaborative candidate sources on movielens-100k, with the protocol of the
 * engine issue (src/recommender/evaluation.ts): latest 20% of each user's ratings held out, relevant =
 * held-out rating >= 4, 10 recommendations outside the user's training items. Prints Recall@10, NDCG@10,
 * MRR@10, catalog coverage, intra-list genre diversity and training time for popularity, item-kNN, EASE
 * and an RP3beta grid, next to the reference figures of ../shared/FACTS.md. Models train on binary
 * interactions (every rating, whatever its value, is one). Reads the data in place, writes nothing.
 *
 * With --scale, then trains item-kNN and RP3beta on a synthetic 100,000-item, 1M-event matrix (skewed
 * popularity and activity) and prints training time, scoring time per user and resident memory.
 *
 * Run: node bench/collaborative-eval.bench.ts [--scale]
 */
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse/sync';
import {
  evaluate,
  splitLatestPerUser,
  type EvaluationResult,
  type Rating,
} from '../src/recommender/evaluation.ts';
import {
  buildInteractionMatrix,
  type Interaction,
  type InteractionMatrix,
  userRow,
} from '../src/recommender/interactions.ts';
import type { CollaborativeStrategy } from '../src/recommender/strategies/collaborative-strategy.ts';
import { ease } from '../src/recommender/strategies/ease.ts';
import { itemKnn } from '../src/recommender/strategies/item-knn.ts';
import { popularity } from '../src/recommender/strategies/popularity.ts';
import { rp3beta } from '../src/recommender/strategies/rp3beta.ts';

const { values: args } = parseArgs({ options: { scale: { type: 'boolean', default: false } } });
const DATA = new URL('../../shared/data/movielens-100k/', import.meta.url).pathname;
const RATINGS = `${DATA}ratings.csv`;
const ITEMS = `${DATA}items.csv`;
if (!existsSync(RATINGS) || !existsSync(ITEMS)) {
  console.log(`collaborative-eval needs ${RATINGS} and ${ITEMS}; absent, nothing measured.`);
  process.exit(0);
}

const ratings: Rating[] = parse<Record<string, string>>(readFileSync(RATINGS), { columns: true }).map(
  (row) => ({
    userId: row.userId!,
    itemId: row.itemId!,
    rating: Number(row.rating),
    time: Number(row.timestamp),
  }),
);
const itemRows = parse<Record<string, string>>(readFileSync(ITEMS), { columns: true });
const genres = new Map(
  itemRows.map((row) => [row.itemId!, new Set((row.genres ?? '').split('|').filter(Boolean))]),
);

const split = splitLatestPerUser(ratings);
const train = buildInteractionMatrix(
  split.train.map((r) => ({ userId: r.userId, itemId: r.itemId, weight: r.rating, time: r.time })),
  { itemIds: itemRows.map((row) => row.itemId!) },
);
console.log(
  `movielens-100k: ${ratings.length} ratings, ${train.userIds.length} users, ${itemRows.length} items; ` +
    `${split.train.length} training ratings, ${split.test.size} users with held-out ratings`,
);

/** Reference NDCG@10 / Recall@10 from ../shared/FACTS.md. */
const REFERENCES: Record<string, { ndcg: number; recall: number }> = {
  popularity: { ndcg: 0.095, recall: 0.076 },
  'item-knn unpruned': { ndcg: 0.161, recall: 0.144 },
  'ease λ=250': { ndcg: 0.17, recall: 0.153 },
};

interface Run {
  label: string;
  result: EvaluationResult;
  trainSeconds: number;
}

function run<P, M>(
  label: string,
  strategy: CollaborativeStrategy<P, M>,
  params: P,
  matrix: InteractionMatrix,
): Run {
  const started = performance.now();
  const model = strategy.train(matrix, params);
  const trainSeconds = (performance.now() - started) / 1000;
  const result = evaluate({
    train: matrix,
    test: split.test,
    recommend: (u, { k, exclude }) =>
      strategy.scoreUser(model, userRow(matrix, u), { k, exclude }).map((s) => s.itemIndex),
    genresOf: (itemId) => genres.get(itemId),
  });
  return { label, result, trainSeconds };
}

const runs: Run[] = [
  run('popularity', popularity, {}, train),
  run('item-knn unpruned', itemKnn, { neighbours: train.itemIds.length }, train),
  run('item-knn 100 nbrs', itemKnn, { neighbours: 100 }, train),
  run('item-knn 100 nbrs, ratings', itemKnn, { neighbours: 100, binary: false }, train),
  ...[100, 250, 500, 1_000].map((lambda) => run(`ease λ=${lambda}`, ease, { lambda }, train)),
  ...[0.25, 0.5, 1].flatMap((alpha) =>
    [0.3, 0.6].map((beta) => run(`rp3beta α=${alpha} β=${beta}`, rp3beta, { alpha, beta }, train)),
  ),
];

const header = ['model', 'Recall@10', 'NDCG@10', 'MRR@10', 'coverage', 'ILD', 'train s', 'ref NDCG / Recall'];
const rows = runs.map(({ label, result, trainSeconds }) => {
  const reference = REFERENCES[label];
  return [
    label,
    result.recall.toFixed(3),
    result.ndcg.toFixed(3),
    result.mrr.toFixed(3),
    result.coverage.toFixed(3),
    result.diversity?.toFixed(3) ?? '-',
    trainSeconds.toFixed(2),
    reference ? `${reference.ndcg.toFixed(3)} / ${reference.recall.toFixed(3)}` : '',
  ];
});
const widths = header.map((title, column) =>
  Math.max(title.length, ...rows.map((row) => row[column]!.length)),
);
const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ');
console.log(`evaluated users (>= 1 relevant held-out item): ${runs[0]?.result.users ?? 0}\n`);
console.log(line(header));
console.log(line(widths.map((width) => '-'.repeat(width))));
for (const row of rows) console.log(line(row));

if (args.scale) {
  let seed = 42;
  const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
  const events: Interaction[] = [];
  // Powers of a uniform draw skew both sides like real catalogs: a head of popular items and heavy users.
  for (let e = 0; e < 1_000_000; e++) {
    events.push({
      userId: `u${Math.floor(50_000 * random() ** 1.8)}`,
      itemId: `i${Math.floor(100_000 * random() ** 2.5)}`,
      time: e,
    });
  }
  let started = performance.now();
  const large = buildInteractionMatrix(events);
  console.log(
    `\nsynthetic: ${large.nnz} pairs, ${large.userIds.length} users, ${large.itemIds.length} items, ` +
      `built in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  const sparse: [string, CollaborativeStrategy<object, unknown>][] = [
    ['item-knn 100 nbrs', itemKnn],
    ['rp3beta', rp3beta],
  ];
  for (const [label, strategy] of sparse) {
    started = performance.now();
    const model = strategy.train(large, {});
    const trainSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    for (let u = 0; u < 1_000; u++) {
      const row = userRow(large, u);
      strategy.scoreUser(model, row, { k: 50, exclude: row.items });
    }
    console.log(
      `${label}: trained in ${trainSeconds.toFixed(1)} s, ${((performance.now() - started) / 1_000).toFixed(2)} ms ` +
        `per user scored, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`,
    );
  }
}
