/**
 * What training the learned ranker costs at scale: a synthetic log of 1M positive events by 50,000 users on
 * 100,000 items (popularity and activity skewed like real catalogs, each user's events in time order, a
 * taste per user: 80 % of their events in one of 500 clusters of items), through the same pure code the training thread
 * runs: trainRanker (two temporal cuts, each training item-kNN and RP3beta; EASE is beyond its size) and
 * buildRankingCatalog with its artefact. Prints seconds, peak resident memory and the artefact's size.
 *
 * Run: node bench/ranker-training.bench.ts [--events 1000000] [--items 100000] [--users 50000]
 */
import { performance } from 'node:perf_hooks';
import { resourceUsage } from 'node:process';
import { parseArgs } from 'node:util';
import { encodeRankingArtifact } from '../src/recommender/ranking/ranking-artifact.ts';
import {
  buildRankingCatalog,
  type LoggedInteraction,
  trainRanker,
} from '../src/recommender/ranking/ranker-training.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    items: { type: 'string', default: '100000' },
    users: { type: 'string', default: '50000' },
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

const facts = { itemIds, genres, releaseYears };
let phase = performance.now();
const { report } = trainRanker(log, facts);
const trainSeconds = (performance.now() - phase) / 1000;
phase = performance.now();
const { catalog } = buildRankingCatalog(log, facts);
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
