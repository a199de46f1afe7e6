/**
 * What training the learned ranker costs at scale: a synthetic log of 1M positive events by 50,000 users on
 * 100,000 items (popularity and activity skewed like real catalogs, each user's events in time order, a
 * taste per user: 80 % of their events in one of 500 clusters of items), through the same pure code the training thread
 * runs: trainRanker (two temporal cuts, each training item-kNN and RP3beta; EASE is beyond its size) and
 * buildRankingCatalog with its artefact. Items have 256-d unit vectors (random, nearer within a cluster),
 * types and credits, so every feature is computed. Prints seconds, peak resident memory and the artefact's
 * size; then what serving costs per page: for --pages users, the learned ranker's candidates and feature
 * rows (rankingRows, as the API builds them), their scores and the signals of the best 100, timed apart.
 *
 * Run: node bench/ranker-training.bench.ts [--events 1000000] [--items 100000] [--users 50000] [--pages 1000]
 */
import { performance } from 'node:perf_hooks';
import { resourceUsage } from 'node:process';
import { parseArgs } from 'node:util';
import { scoreRows } from '../src/recommender/ranking/lambda-mart.ts';
import { encodeRankingArtifact } from '../src/recommender/ranking/ranking-artifact.ts';
import {
  buildRankingCatalog,
  type LoggedInteraction,
  RANKER_CANDIDATES,
  rankingUserOf,
  trainRanker,
} from '../src/recommender/ranking/ranker-training.ts';
import { RANKING_FEATURE_COUNT, rankingRows } from '../src/recommender/ranking/ranking-features.ts';
import { strongestSignals } from '../src/recommender/ranking/ranking-signals.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    items: { type: 'string', default: '100000' },
    users: { type: 'string', default: '50000' },
    pages: { type: 'string', default: '1000' },
  },
});
const EVENTS = Number(args.events);
const ITEMS = Number(args.items);
const USERS = Number(args.users);
const GENRES = 20;

let seed = 42;
const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
const itemIds = Array.from({ length: ITEMS }, (_, i) => `i${i}`);
const genres = itemIds.map((_, i) => [i % GENRES, (i * 7 + 3) % GENRES]);
const releaseYears = itemIds.map((_, i) => 1970 + (i % 56));

/** A fixed hash of a user number: their taste. */
const fnv = (n: number) => Math.imul(n ^ 0x9e3779b9, 0x85ebca6b) >>> 0;

const started = performance.now();
const log: LoggedInteraction[] = [];
const start = Date.UTC(2025, 0, 1);
for (let e = 0; e < EVENTS; e++) {
  const user = Math.floor(USERS * random() ** 1.8);
  // Most of a user's events stay in their taste: one of 500 clusters of items, skewed to its popular ones;
  // the rest anywhere in the catalog, skewed to the popular items.
  const cluster = Math.floor((fnv(user) % 500) * (ITEMS / 500));
  const item =
    random() < 0.8
      ? cluster + Math.floor((ITEMS / 500) * random() ** 2)
      : Math.floor(ITEMS * random() ** 2.5);
  const rating = 1 + Math.floor(random() * 5);
  log.push({
    userId: `u${user}`,
    itemId: itemIds[item]!,
    time: start + e * 30_000,
    rating: rating / 5,
    liked: rating >= 4,
  });
}
console.log(
  `synthetic log: ${EVENTS.toLocaleString('en')} events, ${USERS.toLocaleString('en')} users, ` +
    `${ITEMS.toLocaleString('en')} items, built in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);

// Unit vectors: a cluster's direction plus noise, so content similarity means something.
const DIMENSION = 256;
const vectors = new Float32Array(ITEMS * DIMENSION);
const clusterDirection = Array.from({ length: 500 }, () =>
  Float32Array.from({ length: DIMENSION }, () => random() - 0.5),
);
for (let i = 0; i < ITEMS; i++) {
  const direction = clusterDirection[Math.floor(i / (ITEMS / 500))]!;
  let norm = 0;
  for (let d = 0; d < DIMENSION; d++) {
    const value = direction[d]! + (random() - 0.5) * 0.8;
    vectors[i * DIMENSION + d] = value;
    norm += value * value;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let d = 0; d < DIMENSION; d++) vectors[i * DIMENSION + d]! *= scale;
}
const types = itemIds.map((_, i) => i % 3);
const credits = itemIds.map((_, i) => [i % 5_000, (i * 13) % 20_000, (i * 31) % 20_000]);
const facts = {
  itemIds,
  genres,
  releaseYears,
  types,
  credits,
  vectors: { dimension: DIMENSION, data: vectors },
};
let phase = performance.now();
const { report, model } = trainRanker(log, facts);
const trainSeconds = (performance.now() - phase) / 1000;
phase = performance.now();
const { catalog, matrix } = buildRankingCatalog(log, facts);
const artifact = encodeRankingArtifact({ itemIds, catalog });
const catalogSeconds = (performance.now() - phase) / 1000;
console.log(
  `trainRanker: ${trainSeconds.toFixed(1)} s (${report.queries} queries, ${report.rows.toLocaleString('en')} rows, ` +
    `${report.trees} trees; the trees ${report.treeSeconds.toFixed(1)} s, the models and features the rest)`,
);
console.log(
  `serving catalog (item-kNN, RP3beta, statistics) and its artefact: ${catalogSeconds.toFixed(1)} s, ` +
    `${(artifact.length / 2 ** 20).toFixed(0)} MB`,
);
console.log(
  `held back (${report.heldBackQueries} users): ${Object.entries(report.heldBack)
    .map(([name, value]) => `${name} ${value.toFixed(3)}`)
    .join(', ')}`,
);
console.log(`peak resident memory: ${(resourceUsage().maxRSS / 1024).toFixed(0)} MB`);

// Serving: what a page of the learned ranker costs in this process, users sampled across activity.
const PAGES = Number(args.pages);
const timings = {
  rows: [] as number[],
  score: [] as number[],
  signals: [] as number[],
  total: [] as number[],
};
let candidates = 0;
for (let p = 0; p < PAGES; p++) {
  const u = Math.floor(random() * matrix.userIds.length);
  const user = rankingUserOf(matrix, u);
  const t0 = performance.now();
  const rows = rankingRows(catalog, user, RANKER_CANDIDATES);
  const t1 = performance.now();
  const scores = scoreRows(model.trees, rows.features, RANKING_FEATURE_COUNT);
  const t2 = performance.now();
  const best = [...scores.keys()].sort((a, b) => scores[b]! - scores[a]!).slice(0, 100);
  strongestSignals(model.trees, rows.features, best);
  const t3 = performance.now();
  timings.rows.push(t1 - t0);
  timings.score.push(t2 - t1);
  timings.signals.push(t3 - t2);
  timings.total.push(t3 - t0);
  candidates += rows.items.length;
}
const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
const line = (name: string, values: number[]) =>
  `${name} p50 ${quantile(values, 0.5).toFixed(2)} ms, p99 ${quantile(values, 0.99).toFixed(2)} ms, mean ${(
    values.reduce((sum, value) => sum + value, 0) / values.length
  ).toFixed(2)} ms`;
console.log(
  `serving, ${PAGES} pages (${(candidates / PAGES).toFixed(0)} candidates a page on average, ${model.trees.roots.length} trees):`,
);
for (const name of ['rows', 'score', 'signals', 'total'] as const)
  console.log(`  ${line(name, timings[name])}`);
