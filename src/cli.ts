import closeWithGrace from 'close-with-grace';
import { Argument, Command, Option } from 'commander';
import { openRedisCache } from './cache/redis-cache.ts';
import { createPageCache } from './services/page-cache.ts';
import {
  type EvaluationStrategy,
  formatEvaluationTable,
  runOfflineEvaluation,
} from './evaluation/offline-evaluation.ts';
import packageJson from '../package.json' with { type: 'json' };
import { isScope, SCOPES } from './auth/access.ts';
import {
  CANDIDATE_SOURCES,
  type Config,
  ConfigError,
  loadConfig,
  RANKERS,
  type RankerChoice,
} from './config.ts';
import type { DatabaseHandle } from './db/connect.ts';
import { NotFoundError } from './errors.ts';
import { ApiKeyVerifier, createApiKey, listApiKeySummaries } from './services/api-keys.service.ts';
import { DataDirInUseError } from './db/data-dir-lock.ts';
import {
  describeEmbeddingSpace,
  type EmbeddingSpace,
  EmbeddingSpaceMismatchError,
} from './db/embedding-space.ts';
import {
  reembedCatalog,
  ReembedInProgressError,
  type ReembedResult,
  ReembedSupersededError,
} from './embedding/reembed.ts';
import { MigrationError } from './db/migrate.ts';
import { createLogger, openDatabase, startServer } from './server.ts';
import { createReadStream } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { createImportProgressDisplay } from './cli/import-progress.ts';
import {
  checkImportOptions,
  IMPORT_FORMATS,
  IMPORT_KINDS,
  IMPORT_MODES,
  type ImportOptionName,
} from './ingest/import-options.ts';
import { ImportTooLargeError } from './ingest/import-runner.ts';
import { createImportService } from './ingest/import-service.ts';
import { waitForImportEnd } from './jobs/import-queue.ts';
import { startImportWorker } from './jobs/bullmq-import-queue.ts';
import { createModelTrainingQueue, startModelTrainingWorker } from './jobs/bullmq-model-queue.ts';
import { trainModels } from './services/model-training.service.ts';
import { startTrainingScheduler } from './services/training-scheduler.ts';
import { profileSettings } from './services/profiles.service.ts';
import { createEmbedder, itemTextPolicy } from './embedding/create-embedder.ts';
import type { Embedder } from './embedding/embedder.ts';
import { createAppMetrics } from './metrics.ts';
import { getImportStatus } from './services/imports.service.ts';
import type { ImportStatus } from './schemas/imports.schema.ts';

// In-flight requests get this long to finish after SIGTERM/SIGINT before the process exits anyway.
const SHUTDOWN_GRACE_MS = 10_000;

/** A command's wrong usage: printed as a one-line message. */
class CliUsageError extends Error {}

/** Errors an operator can fix from the message alone: printed without a stack trace. */
const OPERATOR_ERRORS = [
  ConfigError,
  EmbeddingSpaceMismatchError,
  ReembedInProgressError,
  ReembedSupersededError,
  DataDirInUseError,
  MigrationError,
  NotFoundError,
  CliUsageError,
];

export function createCli(): Command {
  const program = new Command()
    .name('marquee')
    .description('Marquee: a headless recommendation API for media catalogs.')
    .version(packageJson.version)
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nConfiguration comes from environment variables (PORT, HOST, MARQUEE_DATA_DIR, DATABASE_URL, REDIS_URL, ...);\n' +
        'see .env.example and the README.',
    );

  program
    .command('serve')
    .description(
      'Start the HTTP API: migrates the database, then listens on HOST:PORT until SIGTERM or SIGINT.',
    )
    .action(async () => {
      const config = loadConfig(process.env);
      const logger = createLogger(config);
      const { app, bootstrapKey } = await startServer(config, logger);
      if (bootstrapKey) printBootstrapKey(bootstrapKey, config);
      closeWithGrace({ delay: SHUTDOWN_GRACE_MS, logger }, async ({ signal, err }) => {
        if (err) logger.error({ err }, 'shutting down after an unexpected error');
        else logger.info({ signal }, 'shutting down: finishing in-flight requests');
        await app.close();
      });
    });

  program
    .command('migrate')
    .description('Bring the database schema to the latest version and exit (serve also does this at start).')
    .action(async () => {
      const config = loadConfig(process.env);
      const logger = createLogger(config);
      const database = await openDatabase(config, logger);
      await database.close();
      logger.info({ database: database.mode }, 'database schema is up to date');
    });

  program
    .command('reembed')
    .description(
      'Move the catalog to the embedder that MARQUEE_EMBEDDER, MARQUEE_EMBEDDING_MODEL and ' +
        'MARQUEE_EMBEDDING_DIMENSION now name: embeds every item with it beside the current vectors, catches ' +
        'up on items changed meanwhile, then swaps the vectors in one transaction. Served mode: the API keeps ' +
        'serving with the old variables meanwhile; embedded: stop the server first. Ctrl-C stops it between ' +
        'chunks; run it again to resume.',
    )
    .option('--dry-run', 'show what it would do and change nothing')
    .option('--restart', 'abandon an unfinished reembed (to any embedder) and start over')
    .action(async (options: { dryRun?: boolean; restart?: boolean }) => {
      await runReembedCommand(options);
    });

  const keys = program
    .command('keys')
    .description('Manage API keys (stop an embedded server first, or use /v1/admin/keys).');
  keys
    .command('create')
    .description('Create an API key and print its secret (shown only this once) on standard output.')
    .requiredOption('--name <name>', 'what the key is for, e.g. "web frontend"')
    // `--scopes`, as the API's `scopes`; `--scope` is accepted too (it was the first spelling).
    .addOption(new Option('--scopes <scope...>', 'one or more scopes').choices(SCOPES))
    .addOption(new Option('--scope <scope...>', 'the same as --scopes').choices(SCOPES).hideHelp())
    .action(async (options: { name: string; scopes?: string[]; scope?: string[] }) => {
      const scopes = [...(options.scopes ?? []), ...(options.scope ?? [])].filter(isScope);
      if (scopes.length === 0)
        throw new CliUsageError(`give one or more scopes with --scopes: ${SCOPES.join(', ')}`);
      await withDatabase(async (db) => {
        const { key, apiKey } = await createApiKey(db, { name: options.name, scopes });
        console.error(
          `created ${apiKey.id} "${apiKey.name}" with scopes ${apiKey.scopes.join(', ')}; the secret:`,
        );
        process.stdout.write(`${key}\n`);
      });
    });
  keys
    .command('list')
    .description('List API keys (never their secrets).')
    .action(async () => {
      await withDatabase(async (db) => {
        const rows = await listApiKeySummaries(db);
        const lines = rows.map((key) =>
          [
            key.id,
            key.name,
            key.scopes.join(','),
            key.createdAt,
            key.lastUsedAt ?? '-',
            key.revokedAt ? `revoked ${key.revokedAt}` : 'active',
          ].join('\t'),
        );
        process.stdout.write(`${['id\tname\tscopes\tcreated\tlast used\tstatus', ...lines].join('\n')}\n`);
      });
    });
  keys
    .command('revoke')
    .description('Revoke an API key by its id (mq_xxxxxxxx).')
    .argument('<keyId>', 'the key id shown by `marquee keys list`')
    .action(async (keyId: string) => {
      await withDatabase(async (db) => {
        await new ApiKeyVerifier(db).revoke(keyId);
        console.error(`revoked ${keyId}`);
      });
    });

  program
    .command('import')
    .description(
      'Import a file of items, users or events (NDJSON, CSV, JSON array; gzip accepted) straight into the ' +
        'database, then print what happened to every record. FILE "-" reads standard input. Stop the ' +
        'embedded server first (it holds the data folder), or POST the file to /v1/imports instead.',
    )
    .addArgument(new Argument('<kind>', 'what the file holds').choices(IMPORT_KINDS))
    .argument('<file>', 'a file path, or - for standard input')
    .addOption(
      new Option('--format <format>', 'the file format (default: from the file name, else ndjson)').choices(
        IMPORT_FORMATS,
      ),
    )
    .option('--map <mapping>', 'column mapping: target=source[:transform...] pairs separated by commas')
    .option('--mapping <file>', 'a JSON file of target: expression pairs (see mappings/)')
    .addOption(
      new Option(
        '--mode <mode>',
        'upsert: write the fields each record holds; replace: whole records; sync: replace and delete what the file lacks',
      )
        .choices(IMPORT_MODES)
        .default('upsert'),
    )
    .option('--max-delete-percent <percent>', 'sync: refuse to delete more than this share (default 10)')
    .option('--force', 'sync: delete beyond --max-delete-percent')
    .action(async (kind: string, file: string, options: ImportCliOptions) => {
      await runImportCommand(kind, file, options);
    });

  program
    .command('train')
    .description(
      'Train the recommendation models (similar items, popularity, trending) from the events now, store ' +
        'them, and print a summary. The server also does this every MARQUEE_MODEL_REFRESH_MINUTES; embedded, ' +
        'stop it first (it holds the data folder) or POST /v1/admin/models/train instead.',
    )
    .action(async () => {
      await runTrainCommand();
    });

  program
    .command('eval')
    .description(
      "Offline evaluation: hold out the latest 20% of each user's ratings, load the rest through the import " +
        "pipeline into a temporary in-memory database, train, and score each strategy's top k against the " +
        'held-out ratings of 4 or more. Prints Recall, NDCG, MRR, coverage and intra-list diversity.',
    )
    .requiredOption('--ratings <file>', 'CSV: userId,itemId,rating,timestamp')
    .requiredOption('--items <file>', 'CSV: itemId,title[,year,genres (a|b),overview]')
    .option('--k <k>', 'list length', '10')
    .option('--json', 'print the report as JSON instead of a table')
    .option(
      '--strategy <name=weights>',
      'evaluate these source weights instead of the default rows, e.g. "mine:collaborative=1,vector=0.2", ' +
        'with optional :diversity:explorationSlots:ranker (learned or blend) (repeatable)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .action(async (options: EvalCliOptions) => {
      await runEvalCommand(options);
    });

  program
    .command('worker')
    .description(
      'Run background jobs (import batches, model trainings) from Redis until SIGTERM or SIGINT. Served ' +
        'mode only: needs REDIS_URL and DATABASE_URL. Start as many as you like, on any host.',
    )
    .action(async () => {
      await runWorkerCommand();
    });

  return program;
}

async function runWorkerCommand(): Promise<void> {
  const config = loadConfig(process.env);
  if (!config.redis || config.database.kind !== 'postgres')
    throw new CliUsageError(
      'marquee worker needs REDIS_URL and DATABASE_URL; embedded, `marquee serve` runs the jobs itself',
    );
  const logger = createLogger(config);
  const database = await openDatabase(config, logger);
  const metrics = createAppMetrics();
  let embedderPromise: Promise<Embedder> | undefined;
  const stopping = new AbortController();
  const modelQueue = createModelTrainingQueue(config.redis, logger);
  const cache = await openRedisCache({ url: config.redis.url, keyPrefix: config.redis.keyPrefix, logger });
  const pageCache = createPageCache(cache);
  const modelWorker = startModelTrainingWorker({
    train: async (trigger) => {
      const outcome = await trainModels(database.db, config.recommender, {
        logger,
        signal: stopping.signal,
        trigger,
      });
      // The API replicas' cached pages predate these models: bump the shared catalog version.
      if (!outcome.skipped) await pageCache.invalidateCatalog();
      return outcome;
    },
    redis: config.redis,
    lockMs: config.jobs.lockMs,
    logger,
  });
  const worker = startImportWorker({
    context: {
      db: database.db,
      policy: itemTextPolicy(config),
      embedder: () => (embedderPromise ??= createEmbedder(config, metrics)),
      profiles: profileSettings(config),
      logger,
      // An import's events reach the models through the training scheduler, like any others.
    },
    redis: config.redis,
    concurrency: config.jobs.workerConcurrency,
    lockMs: config.jobs.lockMs,
    logger,
  });
  // Workers watch the events too, so that trainings start with no API replica running.
  const scheduler = startTrainingScheduler({
    db: database.db,
    schedule: config.recommender,
    logger,
    request: (trigger) =>
      modelQueue
        .request(trigger)
        .catch((error: unknown) => logger.warn({ err: error }, 'could not queue a model training')),
  });
  logger.info({ concurrency: config.jobs.workerConcurrency }, 'marquee worker is running');
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'shutting down after an unexpected error');
    else logger.info({ signal }, 'shutting down: finishing running jobs');
    // A training stops at its next page of events; the job goes back to the queue.
    stopping.abort(new Error('the worker is shutting down'));
    scheduler.stop();
    await worker.close();
    await modelWorker.close();
    await modelQueue.close();
    await cache.close();
    await database.close();
  });
}

interface EvalCliOptions {
  ratings: string;
  items: string;
  k: string;
  json?: boolean;
  strategy?: string[];
}

/**
 * "name:source=weight,...[:diversity[:explorationSlots[:ranker]]]" into a strategy on the configured model;
 * what it leaves out is as shipped (the ranker: blend).
 */
function parseStrategy(text: string, config: Config): EvaluationStrategy {
  const [name, weights, diversity, exploration, ranker] = text.split(':');
  if (!name || !weights) throw new CliUsageError(`--strategy is name:source=weight,... (got "${text}")`);
  const parsed: Record<string, number> = {};
  for (const part of weights.split(',')) {
    const [source, raw] = part.split('=');
    const weight = Number(raw);
    if (!source || !(CANDIDATE_SOURCES as readonly string[]).includes(source) || !Number.isFinite(weight))
      throw new CliUsageError(
        `--strategy: "${part}" is not source=weight (sources: ${CANDIDATE_SOURCES.join(', ')})`,
      );
    parsed[source] = weight;
  }
  const number = (raw: string | undefined, what: string) => {
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) throw new CliUsageError(`--strategy: ${what} must be a number`);
    return value;
  };
  return {
    name,
    weights: parsed,
    model: config.recommender.collaborativeModel,
    diversity: number(diversity, 'diversity'),
    explorationSlots: number(exploration, 'exploration slots'),
    ranker: parseRanker(ranker),
  };
}

function parseRanker(raw: string | undefined): RankerChoice | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!(RANKERS as readonly string[]).includes(raw))
    throw new CliUsageError(`--strategy: the ranker is one of ${RANKERS.join(', ')} (got "${raw}")`);
  return raw as RankerChoice;
}

async function runEvalCommand(options: EvalCliOptions) {
  const k = Number(options.k);
  if (!Number.isInteger(k) || k < 1 || k > 100)
    throw new CliUsageError(`--k must be 1 to 100 (got "${options.k}")`);
  for (const file of [options.ratings, options.items])
    await access(file).catch(() => Promise.reject(new CliUsageError(`cannot read ${file}`)));
  const config = loadConfig(process.env);
  const report = await runOfflineEvaluation({
    ratingsFile: options.ratings,
    itemsFile: options.items,
    k,
    config,
    ...(options.strategy && { strategies: options.strategy.map((text) => parseStrategy(text, config)) }),
    log: (line) => console.error(line),
  });
  if (options.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  process.stdout.write(
    `${report.users} users, ${report.items} items, ${report.trainRatings} training ratings; ` +
      `${report.heldOutUsers} users with a relevant held-out rating\n`,
  );
  process.stdout.write(`${formatEvaluationTable(report, k)}\n`);
}

async function runTrainCommand(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger({ logLevel: 'warn' });
  const database = await openDatabase(config, logger);
  try {
    const outcome = await trainModels(database.db, config.recommender, { logger });
    if (outcome.skipped) {
      console.error(`not trained: ${outcome.reason}; try again when it is done`);
      process.exitCode = 1;
    } else {
      console.error(
        `trained ${outcome.model} on ${outcome.events} events (${outcome.users} users, ${outcome.items} items): ` +
          `${outcome.neighbourRows} neighbour lists, ` +
          `${(outcome.durationMs / 1000).toFixed(1)} s`,
      );
    }
    process.stdout.write(`${JSON.stringify(outcome)}\n`);
  } finally {
    await database.close();
  }
}

interface ImportCliOptions {
  format?: string;
  map?: string;
  mapping?: string;
  mode: string;
  maxDeletePercent?: string;
  force?: boolean;
}

async function runImportCommand(kind: string, file: string, options: ImportCliOptions): Promise<void> {
  let map: string | Record<string, unknown> | undefined = options.map;
  if (options.mapping) {
    const text = await readFile(options.mapping, 'utf8').catch(() => {
      throw new CliUsageError(`cannot read the mapping file ${options.mapping}`);
    });
    try {
      map = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new CliUsageError(
        `--mapping: ${options.mapping} is not a JSON object of target: expression pairs`,
      );
    }
  }
  const maxDeletePercent =
    options.maxDeletePercent === undefined ? undefined : Number(options.maxDeletePercent);
  if (maxDeletePercent !== undefined && !(maxDeletePercent >= 0 && maxDeletePercent <= 100))
    throw new CliUsageError('--max-delete-percent: must be a number from 0 to 100');
  const checked = checkImportOptions({
    kind,
    format:
      options.format ??
      (/\.csv(\.gz)?$/i.test(file) ? 'csv' : /\.json(\.gz)?$/i.test(file) ? 'json' : 'ndjson'),
    mode: options.mode,
    map,
    maxDeletePercent,
    force: options.force,
  });
  if ('problems' in checked)
    throw new CliUsageError(
      checked.problems.map((problem) => `${CLI_OPTION_NAMES[problem.option]}: ${problem.message}`).join('\n'),
    );
  if (file !== '-') await access(file).catch(() => Promise.reject(new CliUsageError(`cannot read ${file}`)));
  const input = file === '-' ? process.stdin : createReadStream(file);
  const totalBytes = file === '-' ? undefined : (await stat(file)).size;

  const config = loadConfig(process.env);
  const logger = createLogger({ logLevel: 'warn' });
  const database = await openDatabase(config, logger);
  const display = createImportProgressDisplay({ stream: process.stderr, totalBytes });
  let endedEvents = false;
  // The import service alone, on the database: no HTTP app, no server plugins.
  const imports = createImportService({
    db: database.db,
    policy: itemTextPolicy(config),
    embedder: lazyEmbedder(config),
    batchSize: config.importBatchSize,
    eventBatchSize: config.importEventBatchSize,
    limits: config.imports,
    jobs: config.jobs,
    redis: config.redis,
    profiles: profileSettings(config),
    logger,
    onImportEnded: (ended) => (endedEvents ||= ended.kind === 'events' && ended.status === 'completed'),
  });
  let progress: NodeJS.Timeout | undefined;
  try {
    let importIdSoFar: string | undefined;
    const bytesRead = () => ('bytesRead' in input ? input.bytesRead : 0);
    progress = setInterval(() => {
      if (importIdSoFar)
        void getImportStatus(database.db, importIdSoFar)
          .then((status) => display.update(status, bytesRead()))
          .catch(() => undefined);
    }, 500);
    const importId = await imports
      .run({ ...checked.options, source: file === '-' ? 'stdin' : file }, input, (id) => (importIdSoFar = id))
      // Past MARQUEE_IMPORT_MAX_BYTES the import is failed with its reason, printed below like any failure.
      .catch((error: unknown) => {
        if (error instanceof ImportTooLargeError) return error.importId;
        throw error;
      });
    await waitForImportEnd(database.db, importId);
    clearInterval(progress);
    const status = await getImportStatus(database.db, importId);
    display.update(status, totalBytes ?? 0);
    display.stop();
    const width = Math.max(...Object.values(status.counts).map((value) => String(value).length));
    for (const [name, value] of Object.entries(status.counts))
      console.error(`  ${name.padEnd(10)} ${String(value).padStart(width)}`);
    if (status.timings.durationMs !== null)
      console.error(
        `  took ${(status.timings.durationMs / 1000).toFixed(1)} s, ${status.timings.recordsPerSecond} records/s${importPhases(status.timings)}`,
      );
    for (const error of status.errors.slice(0, 20)) console.error(`line ${error.line}: ${error.reason}`);
    if (status.errors.length > 20) console.error(`... and ${status.counts.failed - 20} more failed records`);
    process.stdout.write(`${JSON.stringify(status)}\n`);
    if (status.status === 'failed') {
      console.error(`import failed: ${status.failure}`);
      process.exitCode = 1;
    }
    // New events: the models retrain, as after an import through the API (a worker takes it when served).
    if (endedEvents && config.recommender.modelRefreshMinutes > 0)
      await trainAfterImport(config, database, logger);
  } finally {
    // Whatever happened (a bad file, a failed import), nothing may keep the process alive.
    clearInterval(progress);
    display.stop();
    await imports.close();
    await database.close();
  }
}

/** Option names as the CLI spells them, for the problems of checkImportOptions. */
const CLI_OPTION_NAMES: Record<ImportOptionName, string> = {
  kind: 'kind',
  format: '--format',
  mode: '--mode',
  map: '--map/--mapping',
  maxDeletePercent: '--max-delete-percent',
  force: '--force',
};

/** The configured embedder, created on first use (a users or events import never loads one). */
function lazyEmbedder(config: Config): () => Promise<Embedder> {
  let embedder: Promise<Embedder> | undefined;
  return () => (embedder ??= createEmbedder(config, createAppMetrics()));
}

/** After an events import: a training job for the workers (served), or a training here (embedded). */
async function trainAfterImport(
  config: Config,
  database: DatabaseHandle,
  logger: ReturnType<typeof createLogger>,
) {
  if (config.redis) {
    const queue = createModelTrainingQueue(config.redis, logger);
    try {
      await queue.request({ reason: 'marquee import' });
      console.error('  a model training is queued for the workers');
    } finally {
      await queue.close();
    }
    return;
  }
  const outcome = await trainModels(database.db, config.recommender, { logger });
  if (!outcome.skipped) console.error(`  models trained on ${outcome.events} events`);
}

/** "(batches 8.1 s, then 5.2 s to end: vector index, statistics)" when the end of the import took a while. */
function importPhases(timings: ImportStatus['timings']): string {
  if (timings.batchesFinishedAt === null || timings.finishedAt === null) return '';
  const batches = Date.parse(timings.batchesFinishedAt) - Date.parse(timings.createdAt);
  const end = Date.parse(timings.finishedAt) - Date.parse(timings.batchesFinishedAt);
  if (end < 1_000) return '';
  return ` (batches ${(batches / 1000).toFixed(1)} s, then ${(end / 1000).toFixed(1)} s to end: vector index, statistics)`;
}

async function runReembedCommand(options: { dryRun?: boolean; restart?: boolean }): Promise<void> {
  const config = loadConfig(process.env);
  const database = await openDatabase(config, createLogger({ logLevel: 'warn' }), {
    checkEmbeddingSpace: false,
  });
  const stopping = new AbortController();
  const stop = () => {
    console.error('stopping after the current chunk (Ctrl-C again to quit at once)');
    stopping.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    let lastPrinted = 0;
    let lastPhase = '';
    const result = await reembedCatalog(database.db, await createEmbedder(config), config.embedding.fields, {
      ...options,
      signal: stopping.signal,
      onProgress: ({ phase, staged, items }) => {
        if (phase === lastPhase && Date.now() - lastPrinted < 2_000) return;
        [lastPhase, lastPrinted] = [phase, Date.now()];
        console.error(`${phase}: ${staged}/${items} items staged`);
      },
    });
    printReembedResult(result);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await database.close();
  }
}

function printReembedResult(result: ReembedResult): void {
  const env = (space: EmbeddingSpace) =>
    `MARQUEE_EMBEDDER=${space.provider} MARQUEE_EMBEDDING_MODEL=${space.model} MARQUEE_EMBEDDING_DIMENSION=${space.dimension}`;
  switch (result.outcome) {
    case 'nothing to do':
      console.error(`nothing to do: the database already holds ${describeEmbeddingSpace(result.space)}`);
      if (result.unfinished)
        console.error(
          result.abandoned
            ? `abandoned the unfinished reembed to ${describeEmbeddingSpace(result.unfinished)}`
            : `an unfinished reembed to ${describeEmbeddingSpace(result.unfinished)} is kept: run again with ` +
                `${env(result.unfinished)} to finish it, or with --restart to abandon it`,
        );
      return;
    case 'planned': {
      const { plan } = result;
      console.error(
        [
          `would move ${plan.items} items from ${describeEmbeddingSpace(plan.from)} to ${describeEmbeddingSpace(plan.to)}:`,
          plan.start === 'resume'
            ? `  resume an unfinished run: ${plan.staged} items already staged, ${plan.items - plan.staged} to embed`
            : `  embed ${plan.items} items${plan.abandoned ? ` (abandoning the unfinished reembed to ${describeEmbeddingSpace(plan.abandoned)})` : ''}`,
          '  build the HNSW index, catch up on items changed meanwhile, swap the vectors in one transaction',
        ].join('\n'),
      );
      return;
    }
    case 'interrupted':
      console.error(
        `stopped: ${result.embedded} items embedded in ${result.seconds.toFixed(1)} s, nothing swapped yet; ` +
          'run `marquee reembed` again to resume',
      );
      process.exitCode = 130;
      return;
    case 'swapped':
      console.error(
        [
          `moved ${result.items} items to ${describeEmbeddingSpace(result.to)}: ${result.embedded} embedded, ` +
            `${result.reused} kept from an earlier run, ${result.seconds.toFixed(1)} s`,
          `Now restart every API replica and worker with ${env(result.to)}:`,
          'until then they serve the new vectors but cannot embed the items they write.',
        ].join('\n'),
      );
  }
}

async function withDatabase(work: (db: DatabaseHandle['db']) => Promise<void>): Promise<void> {
  const config = loadConfig(process.env);
  // Quiet: these commands print their result on standard output for scripts.
  const database = await openDatabase(config, createLogger({ logLevel: 'warn' }));
  try {
    await work(database.db);
  } finally {
    await database.close();
  }
}

function printBootstrapKey(key: string, config: Config) {
  const base = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}`;
  console.error(
    [
      '',
      '  Marquee created an admin API key. It is shown only this once: store it now.',
      '',
      `    ${key}`,
      '',
      `  Try it:  curl -H "Authorization: Bearer ${key}" ${base}/v1/items`,
      '  Create narrower keys with POST /v1/admin/keys or `marquee keys create`.',
      '',
    ].join('\n'),
  );
}

export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    await createCli().parseAsync([...argv]);
  } catch (error) {
    if (OPERATOR_ERRORS.some((type) => error instanceof type)) {
      console.error(`marquee: ${(error as Error).message}`);
    } else {
      console.error(error);
    }
    process.exitCode = 1;
  }
}
