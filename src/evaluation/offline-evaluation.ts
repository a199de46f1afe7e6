/**
 * `marquee eval`: the offline evaluation of the engine issue, run through the code the API runs. The
 * training ratings are imported as `rate` events by the import pipeline into an in-memory embedded
 * database (with the catalog, embedded by the configured embedder), the models are trained as the worker
 * trains them, profiles are built as events arrive, and each strategy is a set of source weights given to
 * the very service behind GET /v1/users/{userId}/recommendations. The metrics are the pure protocol of
 * src/recommender/evaluation.ts.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { buildApp } from '../app.ts';
import { createMemoryCache } from '../cache/memory-cache.ts';
import type { Config, RankerChoice, RecommenderConfig, SourceWeights } from '../config.ts';
import { connectDatabase } from '../db/connect.ts';
import { ensureEmbeddingSpace } from '../db/embedding-space.ts';
import { migrateToLatest } from '../db/migrate.ts';
import { parseMapping } from '../ingest/mapping.ts';
import { waitForImportEnd } from '../jobs/import-queue.ts';
import {
  type EvaluationResult,
  type Rating,
  PROTOCOL,
  evaluate,
  splitLatestPerUser,
} from '../recommender/evaluation.ts';
import { buildInteractionMatrix } from '../recommender/interactions.ts';
import { getImportStatus } from '../services/imports.service.ts';
import { trainModels } from '../services/model-training.service.ts';
import { recommendForUser } from '../services/recommendations.service.ts';

export interface EvaluationStrategy {
  name: string;
  /** Source weights for this row (the rest of the configuration as given). */
  weights: SourceWeights;
  /** The collaborative model this row needs trained. */
  model: RecommenderConfig['collaborativeModel'];
  /** Settings of the page other than weights (the default hybrid ships with diversity and exploration). */
  diversity?: number | undefined;
  explorationSlots?: number | undefined;
  /** Blend unless set: the learned ranker trains (with the model) and orders the pages once it serves. */
  ranker?: RankerChoice | undefined;
}

/** The rows of the table: baselines first, the shipped default last. */
export function defaultStrategies(config: RecommenderConfig): EvaluationStrategy[] {
  const pure = { diversity: 0, explorationSlots: 0 };
  return [
    { name: 'popularity', weights: { popular: 1 }, model: config.collaborativeModel, ...pure },
    { name: 'item-kNN (cosine)', weights: { collaborative: 1 }, model: 'item-knn', ...pure },
    { name: 'content-only (vector)', weights: { vector: 1 }, model: config.collaborativeModel, ...pure },
    {
      name: `collaborative-only (${config.collaborativeModel})`,
      weights: { collaborative: 1 },
      model: config.collaborativeModel,
      ...pure,
    },
    { name: 'RP3beta', weights: { collaborative: 1 }, model: 'rp3beta', ...pure },
    { name: 'EASE', weights: { collaborative: 1 }, model: 'ease', ...pure },
    {
      name: 'blend (default weights)',
      weights: config.sourceWeights,
      model: config.collaborativeModel,
      diversity: config.diversity,
      explorationSlots: config.explorationSlots,
    },
    {
      name: 'learned ranker',
      weights: config.sourceWeights,
      model: config.collaborativeModel,
      diversity: config.diversity,
      explorationSlots: config.explorationSlots,
      ranker: 'learned',
    },
  ];
}

export interface EvaluationRow extends EvaluationResult {
  name: string;
  seconds: number;
  /** The training this row needed (the models, and the learned ranker for its row); 0 when it reused one. */
  trainSeconds: number;
}

export interface EvaluationReport {
  users: number;
  trainRatings: number;
  heldOutUsers: number;
  items: number;
  loadSeconds: number;
  rows: EvaluationRow[];
}

export interface EvaluationInput {
  ratingsFile: string;
  itemsFile: string;
  k?: number;
  config: Config;
  strategies?: EvaluationStrategy[];
  /** Called with progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

/**
 * Items file: CSV with itemId (or id), title, and optionally year, genres (separated by |) and overview
 * (or description), as movielens-100k in ../shared/data has them. Ratings file: CSV userId, itemId,
 * rating, timestamp (Unix seconds or ISO 8601).
 */
export async function runOfflineEvaluation(input: EvaluationInput): Promise<EvaluationReport> {
  const log = input.log ?? (() => undefined);
  const k = input.k ?? PROTOCOL.k;
  const started = performance.now();
  const ratings = await readRatings(input.ratingsFile);
  const split = splitLatestPerUser(ratings);
  const itemGenres = await readItemGenres(input.itemsFile);

  const config: Config = {
    ...input.config,
    database: { kind: 'embedded', dataDir: 'memory', hnswEfSearch: input.config.database.hnswEfSearch },
    redis: undefined,
    recommender: {
      ...input.config.recommender,
      modelRefreshMinutes: 0,
      cacheSeconds: { recommendations: 0, similar: 0 },
    },
  };
  const database = await connectDatabase(config.database);
  await migrateToLatest(database.db);
  await ensureEmbeddingSpace(database.db, config.embedding);
  const app = await buildApp({ config, database, cache: createMemoryCache(), logger: { level: 'warn' } });
  try {
    await app.ready();
    log(`importing ${itemGenres.size} items and ${split.train.length} training ratings`);
    await importFile(app, 'items', createReadStream(input.itemsFile), 'csv', {
      id: 'itemId',
      title: 'title',
      releaseDate: 'year:year',
      genres: 'genres:split("|")',
      description: 'overview',
    });
    const events = split.train.map(
      (rating) =>
        `${JSON.stringify({
          userId: rating.userId,
          itemId: rating.itemId,
          type: 'rate',
          value: rating.rating,
          timestamp: new Date(rating.time * 1000).toISOString(),
        })}\n`,
    );
    await importFile(app, 'events', Readable.from(events), 'ndjson');
    const loadSeconds = (performance.now() - started) / 1000;
    log(`loaded in ${loadSeconds.toFixed(1)} s`);

    const train = buildInteractionMatrix(
      split.train.map((rating) => ({ userId: rating.userId, itemId: rating.itemId })),
      { itemIds: itemGenres.keys() },
    );
    const rows: EvaluationRow[] = [];
    let trained: string | undefined;
    for (const strategy of input.strategies ?? defaultStrategies(config.recommender)) {
      const rowStarted = performance.now();
      const recommender: RecommenderConfig = {
        ...config.recommender,
        sourceWeights: strategy.weights,
        collaborativeModel: strategy.model,
        diversity: strategy.diversity ?? config.recommender.diversity,
        explorationSlots: strategy.explorationSlots ?? config.recommender.explorationSlots,
        variants: { default: { share: 100 } },
        ranker: strategy.ranker ?? 'blend',
      };
      let trainSeconds = 0;
      if (trained !== `${strategy.model}:${recommender.ranker}`) {
        const outcome = await trainModels(app.db, recommender);
        trainSeconds = (performance.now() - rowStarted) / 1000;
        trained = `${strategy.model}:${recommender.ranker}`;
        if (!outcome.skipped && outcome.ranker) log(`learned ranker: ${outcome.ranker.verdict}`);
      }
      // Pages are served from the model in memory, as `marquee serve` does: it holds this training first.
      await app.recommender.model?.refresh();
      await app.recommender.model?.settled();
      const deps = { ...app.recommender, config: recommender };
      const lists = new Map<string, string[]>();
      for (const userId of split.test.keys()) {
        const { page } = await recommendForUser(deps, { userId, limit: k, filters: {} });
        lists.set(
          userId,
          page.items.map((entry) => entry.itemId),
        );
      }
      const result = evaluate({
        train,
        test: split.test,
        k,
        recommend: (userIndex) =>
          (lists.get(train.userIds[userIndex]!) ?? []).flatMap((itemId) => {
            const index = train.itemIndex.get(itemId);
            return index === undefined ? [] : [index];
          }),
        genresOf: (itemId) => itemGenres.get(itemId),
      });
      const seconds = (performance.now() - rowStarted) / 1000;
      rows.push({ name: strategy.name, ...result, seconds, trainSeconds });
      log(`${strategy.name}: NDCG@${k} ${result.ndcg.toFixed(3)} (${seconds.toFixed(1)} s)`);
    }
    return {
      users: new Set(ratings.map((rating) => rating.userId)).size,
      trainRatings: split.train.length,
      heldOutUsers: rows[0]?.users ?? 0,
      items: itemGenres.size,
      loadSeconds,
      rows,
    };
  } finally {
    await app.close();
  }
}

/** The report as a Markdown table (what the README publishes). */
export function formatEvaluationTable(report: EvaluationReport, k: number = PROTOCOL.k): string {
  const header = `| strategy | Recall@${k} | NDCG@${k} | MRR | coverage | intra-list diversity | training s |`;
  const lines = [header, '| --- | ---: | ---: | ---: | ---: | ---: | ---: |'];
  for (const row of report.rows)
    lines.push(
      `| ${row.name} | ${row.recall.toFixed(3)} | ${row.ndcg.toFixed(3)} | ${row.mrr.toFixed(3)} | ${row.coverage.toFixed(3)} | ${row.diversity?.toFixed(3) ?? 'n/a'} | ${row.trainSeconds > 0 ? row.trainSeconds.toFixed(1) : 'same'} |`,
    );
  return lines.join('\n');
}

async function importFile(
  app: Awaited<ReturnType<typeof buildApp>>,
  kind: 'items' | 'events',
  input: Readable,
  format: 'csv' | 'ndjson',
  mappingSpec?: Record<string, string>,
) {
  const importId = await app.imports.run(
    {
      kind,
      format,
      mode: 'upsert',
      mapping: mappingSpec ? parseMapping(mappingSpec) : undefined,
      mappingSpec,
      source: 'eval',
    },
    input,
  );
  await waitForImportEnd(app.db, importId);
  const status = await getImportStatus(app.db, importId);
  if (status.status !== 'completed' || status.counts.failed > 0)
    throw new Error(
      `the ${kind} import ${status.status}: ${status.failure ?? ''} ${status.errors
        .slice(0, 3)
        .map((error) => `line ${error.line}: ${error.reason}`)
        .join('; ')}`,
    );
  await app.embedding.idle();
}

async function readRatings(file: string): Promise<Rating[]> {
  const ratings: Rating[] = [];
  for await (const row of createReadStream(file).pipe(parse({ columns: true })) as AsyncIterable<
    Record<string, string>
  >) {
    const raw = row.timestamp ?? '';
    const time = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw) / 1000;
    ratings.push({ userId: row.userId!, itemId: row.itemId!, rating: Number(row.rating), time });
  }
  return ratings;
}

async function readItemGenres(file: string): Promise<Map<string, Set<string>>> {
  const genres = new Map<string, Set<string>>();
  for await (const row of createReadStream(file).pipe(parse({ columns: true })) as AsyncIterable<
    Record<string, string>
  >)
    genres.set(row.itemId ?? row.id!, new Set((row.genres ?? '').split('|').filter(Boolean)));
  return genres;
}
