/**
 * The learned ranker on movielens-100k, pure (no database, no serving path yet): the ranker is trained by
 * src/recommender/ranking/ranker-training.ts on the training part of a split (temporal self-supervision
 * inside it, so nothing of the test part leaks), then ranks each test user's candidates made by the same
 * code from models trained on the whole training part. Two splits: the protocol's (latest 20 % of each
 * user held out) and a global temporal one (every rating after the 80th percentile of time held out).
 * Prints Recall@10, NDCG@10, MRR, coverage and diversity for each collaborative source alone (ordering
 * the same candidates by its score), their fusion, and the ranker, with the ranker's training report.
 *
 * Run: node bench/learned-ranker-eval.bench.ts [--split protocol|time]
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse/sync';
import {
  type EvaluationResult,
  evaluate,
  splitLatestPerUser,
  type Rating,
} from '../src/recommender/evaluation.ts';
import { scoreRows } from '../src/recommender/ranking/lambda-mart.ts';
import {
  type CatalogFacts,
  type LoggedInteraction,
  buildRankingCatalog,
  isHeldBack,
  rankingUserOf,
  RANKER_CANDIDATES,
  trainRanker,
} from '../src/recommender/ranking/ranker-training.ts';
import {
  RANKING_FEATURE_COUNT,
  RANKING_FEATURES,
  rankingRows,
} from '../src/recommender/ranking/ranking-features.ts';

const { values: args } = parseArgs({ options: { split: { type: 'string', default: 'protocol' } } });
const DATA = new URL('../../shared/data/movielens-100k/', import.meta.url).pathname;
if (!existsSync(`${DATA}ratings.csv`) || !existsSync(`${DATA}items.csv`)) {
  console.log(`learned-ranker-eval needs ${DATA}ratings.csv and items.csv; absent, nothing measured.`);
  process.exit(0);
}
const ratings: Rating[] = parse<Record<string, string>>(readFileSync(`${DATA}ratings.csv`), {
  columns: true,
}).map((row) => ({
  userId: row.userId!,
  itemId: row.itemId!,
  rating: Number(row.rating),
  time: Number(row.timestamp) * 1000,
}));
const itemRows = parse<Record<string, string>>(readFileSync(`${DATA}items.csv`), { columns: true });
const genreIds = new Map<string, number>();
const facts: CatalogFacts = {
  itemIds: itemRows.map((row) => row.itemId!),
  genres: itemRows.map((row) =>
    (row.genres ?? '')
      .split('|')
      .filter(Boolean)
      .map((genre) => genreIds.get(genre) ?? (genreIds.set(genre, genreIds.size), genreIds.size - 1)),
  ),
  releaseYears: itemRows.map((row) => (row.year ? Number(row.year) : Number.NaN)),
};
const genreSets = new Map(itemRows.map((row) => [row.itemId!, new Set((row.genres ?? '').split('|'))]));

/** Everything before the time below which `share` of the ratings fall trains; later ratings of known users test. */
function splitGlobalTime(all: readonly Rating[], share: number) {
  const times = all.map((r) => r.time).sort((a, b) => a - b);
  const cut = times[Math.floor(times.length * share)]!;
  const train = all.filter((r) => r.time < cut);
  const known = new Set(train.map((r) => r.userId));
  const test = new Map<string, Rating[]>();
  for (const r of all)
    if (r.time >= cut && known.has(r.userId)) test.set(r.userId, [...(test.get(r.userId) ?? []), r]);
  return { train, test };
}

const split = args.split === 'time' ? splitGlobalTime(ratings, 0.8) : splitLatestPerUser(ratings);
const log: LoggedInteraction[] = split.train.map((r) => ({
  userId: r.userId,
  itemId: r.itemId,
  time: r.time,
  rating: r.rating / 5,
  liked: r.rating >= 4,
}));

const trained = trainRanker(log, facts);
const { matrix, catalog } = buildRankingCatalog(log, facts);
console.log(
  `movielens-100k, ${args.split} split: ${split.train.length} training ratings, ${split.test.size} test users; ` +
    `ranker: ${trained.report.queries} queries, ${trained.report.rows} rows, ${trained.report.trees} trees, ` +
    `trained in ${trained.report.seconds.toFixed(1)} s`,
);
console.log(
  `held back from the trees (${trained.report.heldBackQueries} users), NDCG@10: ` +
    Object.entries(trained.report.heldBack)
      .map(([name, value]) => `${name} ${value.toFixed(4)}`)
      .join(', '),
);
console.log(
  `strongest features: ${trained.report.importance.map((f) => `${f.feature} ${f.share.toFixed(2)}`).join(', ')}`,
);

type Order = (features: Float32Array, rows: number) => ArrayLike<number>;
const byFeature =
  (name: (typeof RANKING_FEATURES)[number]): Order =>
  (features, rows) =>
    Float64Array.from({ length: rows }, (_, r) => {
      const value = features[r * RANKING_FEATURE_COUNT + RANKING_FEATURES.indexOf(name)]!;
      return Number.isNaN(value) ? -Infinity : value;
    });
const strategies: [string, Order][] = [
  ['item-kNN', byFeature('item-knn.score')],
  ['RP3beta', byFeature('rp3beta.score')],
  ['EASE', byFeature('ease.score')],
  [
    'fusion (the ranker with no tree)',
    (features) => scoreRows({ ...trained.model.trees, roots: [] }, features, RANKING_FEATURE_COUNT),
  ],
  ['learned ranker', (features) => scoreRows(trained.model.trees, features, RANKING_FEATURE_COUNT)],
];

const run = (order: Order, users: (userId: string) => boolean): EvaluationResult =>
  evaluate({
    train: matrix,
    test: new Map([...split.test].filter(([userId]) => users(userId))),
    recommend: (u, { k }) => {
      const rows = rankingRows(catalog, rankingUserOf(matrix, u), RANKER_CANDIDATES);
      const scores = order(rows.features, rows.items.length);
      return Array.from(rows.items.keys())
        .sort((a, b) => scores[b]! - scores[a]! || a - b)
        .slice(0, k)
        .map((r) => rows.items[r]!);
    },
    genresOf: (itemId) => genreSets.get(itemId),
  });

console.log(
  '\n| strategy | Recall@10 | NDCG@10 | MRR | coverage | intra-list diversity | NDCG@10, users held back from the trees |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [name, order] of strategies) {
  const all = run(order, () => true);
  const held = run(order, isHeldBack);
  console.log(
    `| ${name} | ${all.recall.toFixed(3)} | ${all.ndcg.toFixed(3)} | ${all.mrr.toFixed(3)} | ${all.coverage.toFixed(3)} | ` +
      `${all.diversity?.toFixed(3) ?? '-'} | ${held.ndcg.toFixed(3)} (${held.users}) |`,
  );
}
