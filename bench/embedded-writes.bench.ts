/**
 * Embedded writes and the event loop.
 *
 * Writes 20,000 items with 256-dimensional embeddings into the embedded database (PGlite on its worker
 * thread) while an HTTP probe calls GET /healthz every 20 ms, then drops and rebuilds the HNSW index, and
 * reports the main thread's event-loop delay and the probe's latencies for each phase. For contrast, a last
 * phase runs PGlite on the main thread itself and writes 3,000 items the same way.
 *
 * Run: npm run bench:embedded-writes   (node bench/embedded-writes.bench.ts)
 * Knobs (for quick runs): BENCH_ITEMS (default 20000), BENCH_MAIN_THREAD_ITEMS (default 3000).
 *
 * It prints figures; it asserts nothing. The /healthz probe runs on its own worker thread and fires on a
 * fixed 20 ms schedule whether or not the previous request has answered: a probe on the main thread could
 * not send while that thread is blocked, and a probe that waits for each answer sees one slow request per
 * stall instead of every request the stall delays.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import type { FastifyInstance } from 'fastify';
import { Kysely, PGliteDialect, sql } from 'kysely';
import { buildApp } from '../src/app.ts';
import { createMemoryCache } from '../src/cache/memory-cache.ts';
import { loadConfig } from '../src/config.ts';
import { connectDatabase, type DatabaseHandle } from '../src/db/connect.ts';
import type { Database } from '../src/db/database.ts';
import { ensureEmbeddingSpace } from '../src/db/embedding-space.ts';
import { migrateToLatest } from '../src/db/migrate.ts';

const ITEMS = positiveIntegerFromEnv('BENCH_ITEMS', 20_000);
const MAIN_THREAD_ITEMS = positiveIntegerFromEnv('BENCH_MAIN_THREAD_ITEMS', 3_000);
const BATCH_SIZE = 500;
const DIMENSION = 256;
const PROBE_INTERVAL_MS = 20;
const EVENT_LOOP_RESOLUTION_MS = 10;
/**
 * The histogram records the time between two of its timer callbacks, so a stall only counts once the loop
 * has run the timer before it (a first sample) and after it: let it tick this long around each phase.
 */
const EVENT_LOOP_SETTLE_MS = 5 * EVENT_LOOP_RESOLUTION_MS;
const PROBE_WARM_UP_MS = 1_000;
const IDLE_BASELINE_MS = 3_000;
/** The main-thread phase stops starting new batches after this long. */
const MAIN_THREAD_BUDGET_MS = 60_000;
/** The whole run gives up (exit 1) after this long. */
const OVERALL_LIMIT_MS = 20 * 60_000;
const PROBE_TIMEOUT_MS = 60_000;
const PROGRESS_EVERY_ROWS = 2_000;

// ---------------------------------------------------------------------------------------------------------
// The /healthz probe (worker thread)

type ProbeCommand = { kind: 'start' } | { kind: 'stop' };
interface ProbeReport {
  latenciesMs: number[];
  failures: number;
  firstError: string | undefined;
}

async function runProbeWorker(port: NonNullable<typeof parentPort>, url: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let latenciesMs: number[] = [];
  let failures = 0;
  let firstError: string | undefined;
  const inFlight = new Set<Promise<void>>();

  const probeOnce = () => {
    const sent = performance.now();
    const request = fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })
      .then(async (response) => {
        await response.arrayBuffer();
        if (!response.ok) throw new Error(`GET /healthz answered ${response.status}`);
        latenciesMs.push(performance.now() - sent);
      })
      .catch((error: unknown) => {
        failures++;
        firstError ??= describeError(error);
      })
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
  };

  port.on('message', (command: ProbeCommand) => {
    if (command.kind === 'start') {
      latenciesMs = [];
      failures = 0;
      firstError = undefined;
      probeOnce();
      timer = setInterval(probeOnce, PROBE_INTERVAL_MS);
      return;
    }
    clearInterval(timer);
    void Promise.allSettled([...inFlight]).then(() => {
      port.postMessage({ latenciesMs, failures, firstError } satisfies ProbeReport);
    });
  });
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}

interface Probe {
  start(): void;
  stop(): Promise<ProbeReport>;
  close(): Promise<void>;
}

function startProbe(url: string): Probe {
  const worker = new Worker(new URL(import.meta.url), { workerData: { probeUrl: url } });
  worker.on('error', (error) => console.error('probe worker failed:', error));
  return {
    start: () => worker.postMessage({ kind: 'start' } satisfies ProbeCommand),
    stop: () =>
      new Promise<ProbeReport>((resolve) => {
        worker.once('message', resolve);
        worker.postMessage({ kind: 'stop' } satisfies ProbeCommand);
      }),
    close: async () => {
      await worker.terminate();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Deterministic data

/** mulberry32: a small seeded PRNG, so every run writes the same items and vectors. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const TYPES = ['movie', 'movie', 'movie', 'series', 'episode', 'documentary'];
const GENRES = [
  'drama',
  'comedy',
  'thriller',
  'crime',
  'romance',
  'science-fiction',
  'fantasy',
  'horror',
  'documentary',
  'animation',
  'family',
  'mystery',
  'war',
  'western',
  'music',
  'history',
];
const TAGS = ['award-winner', 'based-on-a-true-story', 'slow-burn', 'feel-good', 'cult', 'new', 'classic'];
const ADJECTIVES = [
  'Silent',
  'Last',
  'Hidden',
  'Broken',
  'Golden',
  'Distant',
  'Burning',
  'Quiet',
  'Crimson',
  'Endless',
  'Northern',
  'Forgotten',
  'Wild',
  'Electric',
  'Midnight',
  'Paper',
];
const NOUNS = [
  'Harbor',
  'Summer',
  'Witness',
  'Kingdom',
  'Orchard',
  'Signal',
  'Frontier',
  'Garden',
  'River',
  'Station',
  'Letters',
  'Empire',
  'Circus',
  'Island',
  'Engine',
  'Daughters',
];
const SUBJECTS = [
  'A retired detective',
  'Two estranged sisters',
  'A young violinist',
  'The crew of a cargo ship',
  'A small-town mayor',
  'An ambitious chef',
  'A grieving astronaut',
  'A family of farmers',
  'A disgraced journalist',
  'A teenage hacker',
];
const PLOTS = [
  'returns home to settle an old debt',
  'uncovers a secret buried for forty years',
  'races against a storm to save a stranger',
  'must choose between loyalty and the truth',
  'finds an unlikely ally in a rival',
  'tries to rebuild a life after a scandal',
  'follows a map that should not exist',
  'is drawn into a conspiracy at the highest level',
];
const SETTINGS = [
  'in a fishing village on the edge of the Atlantic',
  'across the deserts of the American southwest',
  'during one long winter in Helsinki',
  'in the neon back streets of Osaka',
  'in a crumbling palace outside Naples',
  'aboard a night train from Paris to Vienna',
];
const CODAS = [
  'A tender, funny portrait of people who refuse to give up.',
  'Tense, beautifully shot and impossible to predict.',
  'Nothing is quite what it seems, and no one is entirely innocent.',
  'A story about family, memory and the cost of second chances.',
];
const LANGUAGES = ['en', 'en', 'en', 'fr', 'es', 'de', 'ja', 'ko', 'it'];
const RATINGS = ['G', 'PG', 'PG-13', 'R', 'TV-14', 'TV-MA'];
const REGIONS = ['US', 'GB', 'CA', 'FR', 'DE', 'ES', 'JP'];
const NAMES = ['Ana Ruiz', 'Tom Becker', 'Mei Tanaka', 'Oluwaseun Adeyemi', 'Claire Dubois', 'Ravi Menon'];

interface BenchItem {
  id: string;
  type: string;
  title: string;
  description: string;
  genres: string[];
  tags: string[];
  credits: string;
  language: string;
  release_year: number;
  duration_seconds: number;
  maturity_rating: string;
  regions: string[];
  attributes: string;
}

interface BenchRow {
  item: BenchItem;
  /** pgvector text form: '[0.012345,-0.067890,...]' */
  embedding: string;
}

function generateRows(count: number, seed: number, idPrefix: string): BenchRow[] {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const pickDistinct = <T>(list: readonly T[], howMany: number): T[] => {
    const chosen = new Set<T>();
    while (chosen.size < howMany) chosen.add(pick(list));
    return [...chosen];
  };
  const gaussian = () => {
    const u = 1 - random(); // (0, 1]: log(u) stays finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };

  const rows: BenchRow[] = [];
  for (let index = 0; index < count; index++) {
    let description = `${pick(SUBJECTS)} ${pick(PLOTS)} ${pick(SETTINGS)}. ${pick(CODAS)}`;
    while (description.length < 200) description += ` ${pick(CODAS)}`;
    description = description.slice(0, 200);

    const values = Array.from({ length: DIMENSION }, gaussian);
    const norm = Math.hypot(...values);
    rows.push({
      item: {
        id: `${idPrefix}-${String(index + 1).padStart(6, '0')}`,
        type: pick(TYPES),
        title: `The ${pick(ADJECTIVES)} ${pick(NOUNS)}${random() < 0.3 ? ` ${2 + Math.floor(random() * 3)}` : ''}`,
        description,
        genres: pickDistinct(GENRES, random() < 0.5 ? 2 : 3),
        tags: pickDistinct(TAGS, 1 + Math.floor(random() * 2)),
        credits: JSON.stringify([
          { name: pick(NAMES), role: 'director' },
          { name: pick(NAMES), role: 'actor' },
        ]),
        language: pick(LANGUAGES),
        release_year: 1950 + Math.floor(random() * 76),
        duration_seconds: 60 * (80 + Math.floor(random() * 70)),
        maturity_rating: pick(RATINGS),
        regions: pickDistinct(REGIONS, 1 + Math.floor(random() * 3)),
        attributes: JSON.stringify({ source: 'bench', popularity: Math.round(random() * 1000) / 10 }),
      },
      embedding: `[${values.map((value) => (value / norm).toFixed(6)).join(',')}]`,
    });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------
// Writes

/** One batch: a multi-row INSERT of the items, then one of their embeddings (the HNSW index takes each row). */
async function writeBatch(db: Kysely<Database>, batch: readonly BenchRow[]): Promise<void> {
  await db
    .insertInto('items')
    .values(batch.map((row) => row.item))
    .execute();
  await db
    .insertInto('item_embeddings')
    .values(
      batch.map((row) => ({
        item_id: row.item.id,
        embedding: row.embedding,
        content_hash: `bench-${row.item.id}`,
      })),
    )
    .execute();
}

async function writeAll(
  db: Kysely<Database>,
  rows: readonly BenchRow[],
  label: string,
  budgetMs = Number.POSITIVE_INFINITY,
): Promise<number> {
  const started = performance.now();
  let written = 0;
  let reported = 0;
  const batchMs: number[] = [];
  for (let offset = 0; offset < rows.length; offset += BATCH_SIZE) {
    if (performance.now() - started > budgetMs) {
      log(`  ${label}: time budget of ${budgetMs / 1000} s reached, stopping at ${written} rows`);
      break;
    }
    const batchStarted = performance.now();
    await writeBatch(db, rows.slice(offset, offset + BATCH_SIZE));
    batchMs.push(performance.now() - batchStarted);
    // Give the event loop a full turn (timers, I/O) between batches, as a server's ingest would: an
    // in-memory PGlite on the main thread settles its promises without ever yielding to the loop, so
    // without this the whole main-thread phase would be one stall rather than one per batch.
    await sleep(0);
    written = Math.min(offset + BATCH_SIZE, rows.length);
    if (written - reported >= PROGRESS_EVERY_ROWS || written === rows.length) {
      reported = written;
      const seconds = (performance.now() - started) / 1000;
      log(
        `  ${label}: ${written.toLocaleString('en-US')}/${rows.length.toLocaleString('en-US')} rows, ` +
          `${seconds.toFixed(1)} s, ${Math.round(written / seconds)} rows/s`,
      );
    }
  }
  if (batchMs.length > 0) {
    log(
      `  ${label}: ${batchMs.length} batches of ${BATCH_SIZE} rows (two INSERTs each), ` +
        `${Math.round(Math.min(...batchMs))}-${Math.round(Math.max(...batchMs))} ms per batch`,
    );
  }
  return written;
}

// ---------------------------------------------------------------------------------------------------------
// Measurement

interface PhaseResult {
  name: string;
  rows: number;
  durationMs: number;
  loop: { p50: number; p99: number; max: number; samples: number };
  probe: { p50: number; p99: number; max: number; count: number; failures: number };
}

async function measurePhase(name: string, probe: Probe, run: () => Promise<number>): Promise<PhaseResult> {
  log(`phase: ${name}`);
  const histogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  const gcPausesMs: number[] = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcPausesMs.push(entry.duration);
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  histogram.enable();
  probe.start();
  await sleep(EVENT_LOOP_SETTLE_MS);
  const started = performance.now();
  const rows = await run();
  const durationMs = performance.now() - started;
  await sleep(EVENT_LOOP_SETTLE_MS);
  histogram.disable();
  const report = await probe.stop();
  gcObserver.disconnect();
  if (report.failures > 0) log(`  ${report.failures} probe(s) failed, first: ${report.firstError}`);
  log(
    `  garbage collection on the main thread: ${gcPausesMs.length} pauses, ` +
      `${ms(gcPausesMs.reduce((sum, pause) => sum + pause, 0))} ms in all, longest ${ms(Math.max(0, ...gcPausesMs))} ms`,
  );

  const sorted = report.latenciesMs.sort((a, b) => a - b);
  const result: PhaseResult = {
    name,
    rows,
    durationMs,
    loop: {
      p50: histogram.percentile(50) / 1e6,
      p99: histogram.percentile(99) / 1e6,
      max: histogram.max / 1e6,
      samples: histogram.count,
    },
    probe: {
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted.at(-1) ?? Number.NaN,
      count: sorted.length,
      failures: report.failures,
    },
  };
  log(
    `  done: ${rows.toLocaleString('en-US')} rows in ${(durationMs / 1000).toFixed(1)} s` +
      (rows > 0 ? ` (${rowsPerSecond(result)} rows/s)` : '') +
      `; event-loop delay p50/p99/max ${ms(result.loop.p50)}/${ms(result.loop.p99)}/${ms(result.loop.max)} ms` +
      `; /healthz p50/p99/max ${ms(result.probe.p50)}/${ms(result.probe.p99)}/${ms(result.probe.max)} ms` +
      ` over ${result.probe.count} probes`,
  );
  return result;
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

function rowsPerSecond(result: PhaseResult): string {
  return result.rows > 0 ? Math.round(result.rows / (result.durationMs / 1000)).toLocaleString('en-US') : '-';
}

function ms(value: number): string {
  if (Number.isNaN(value)) return '-';
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function log(message: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function positiveIntegerFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

function machine(): string {
  const cpus = os.cpus();
  const memoryGiB = (os.totalmem() / 1024 ** 3).toFixed(1);
  return (
    `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ${memoryGiB} GiB RAM, ` +
    `Node ${process.version}, ${os.type()} ${os.release()} ${os.arch()}`
  );
}

function markdownTable(results: readonly PhaseResult[]): string {
  const lines = [
    '| Phase | Rows | Duration (s) | Rows/s | Event-loop delay p50 / p99 / max (ms) | /healthz p50 / p99 / max (ms) | Probes |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const result of results) {
    const probes =
      result.probe.failures > 0
        ? `${result.probe.count} answered, ${result.probe.failures} failed`
        : String(result.probe.count);
    lines.push(
      `| ${result.name} | ${result.rows.toLocaleString('en-US')} | ${(result.durationMs / 1000).toFixed(1)} | ` +
        `${rowsPerSecond(result)} | ${ms(result.loop.p50)} / ${ms(result.loop.p99)} / ${ms(result.loop.max)} | ` +
        `${ms(result.probe.p50)} / ${ms(result.probe.p99)} / ${ms(result.probe.max)} | ${probes} |`,
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const overall = setTimeout(() => {
    console.error(`benchmark exceeded ${OVERALL_LIMIT_MS / 60_000} minutes; giving up`);
    process.exit(1);
  }, OVERALL_LIMIT_MS);
  overall.unref();

  const date = new Date();
  log(`machine: ${machine()}`);
  const dataDir = await mkdtemp(join(os.tmpdir(), 'marquee-bench-'));
  let database: DatabaseHandle | undefined;
  let app: FastifyInstance | undefined;
  let probe: Probe | undefined;
  let mainThreadPglite: PGlite | undefined;
  let mainThreadDb: Kysely<Database> | undefined;
  try {
    log(`opening the embedded database (worker thread) in ${dataDir}`);
    database = await connectDatabase({ kind: 'embedded', dataDir });
    await migrateToLatest(database.db);
    await ensureEmbeddingSpace(database.db, {
      provider: 'local',
      model: 'marquee-local-v1',
      dimension: DIMENSION,
    });
    const config = loadConfig({ MARQUEE_DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    app = await buildApp({ config, database, cache: createMemoryCache() });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const baseUrl = `http://127.0.0.1:${port}`;
    log(`app listening on ${baseUrl}`);

    const settings = await sql<{ pgvector: string; maintenance_work_mem: string }>`
      SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector,
             current_setting('maintenance_work_mem') AS maintenance_work_mem`.execute(database.db);
    const { pgvector = '?', maintenance_work_mem = '?' } = settings.rows[0] ?? {};
    log(`pgvector ${pgvector}, maintenance_work_mem ${maintenance_work_mem}`);

    log(`generating ${ITEMS.toLocaleString('en-US')} items with ${DIMENSION}-dimensional embeddings`);
    const rows = generateRows(ITEMS, 20_000, 'bench');
    const mainThreadRows = generateRows(MAIN_THREAD_ITEMS, 5_000, 'main');

    probe = startProbe(`${baseUrl}/healthz`);
    const results: PhaseResult[] = [];
    const activeProbe = probe;
    // Connections, JIT: the first requests are slow for reasons that have nothing to do with the database.
    activeProbe.start();
    await sleep(PROBE_WARM_UP_MS);
    await activeProbe.stop();
    const db = database.db;

    results.push(
      await measurePhase('Idle baseline (nothing written)', activeProbe, async () => {
        await sleep(IDLE_BASELINE_MS);
        return 0;
      }),
    );

    results.push(
      await measurePhase(
        `Worker thread: insert ${ITEMS.toLocaleString('en-US')} items + embeddings, HNSW maintained (${BATCH_SIZE}-row INSERTs)`,
        activeProbe,
        () => writeAll(db, rows, 'worker'),
      ),
    );

    results.push(
      await measurePhase(
        `Worker thread: DROP + CREATE the HNSW index over ${ITEMS.toLocaleString('en-US')} embeddings`,
        activeProbe,
        async () => {
          await sql`DROP INDEX item_embeddings_hnsw_idx`.execute(db);
          await sql`CREATE INDEX item_embeddings_hnsw_idx ON item_embeddings
            USING hnsw (embedding vector_cosine_ops)`.execute(db);
          const counted = await sql<{ count: number }>`
            SELECT count(*)::int AS count FROM item_embeddings`.execute(db);
          return counted.rows[0]?.count ?? 0;
        },
      ),
    );

    // Sanity: everything landed, the index answers a nearest-neighbour query, and the API serves an item.
    const counts = await sql<{ items: number; embeddings: number }>`
      SELECT (SELECT count(*)::int FROM items) AS items,
             (SELECT count(*)::int FROM item_embeddings) AS embeddings`.execute(db);
    const { items: itemCount = 0, embeddings: embeddingCount = 0 } = counts.rows[0] ?? {};
    if (itemCount !== ITEMS || embeddingCount !== ITEMS) {
      throw new Error(`expected ${ITEMS} items and embeddings, found ${itemCount} and ${embeddingCount}`);
    }
    const probeVector = rows[0]?.embedding ?? '';
    const nearest = await sql<{ item_id: string }>`
      SELECT item_id FROM item_embeddings ORDER BY embedding <=> ${probeVector}::vector LIMIT 1`.execute(db);
    const response = await fetch(`${baseUrl}/v1/items/${rows[0]?.item.id ?? ''}`);
    await response.arrayBuffer();
    log(
      `check: ${itemCount} items, ${embeddingCount} embeddings; nearest neighbour of ${rows[0]?.item.id} is ` +
        `${nearest.rows[0]?.item_id}; GET /v1/items/${rows[0]?.item.id} answered ${response.status}`,
    );
    if (response.status !== 200) throw new Error(`GET /v1/items answered ${response.status}`);

    log('opening a second PGlite on the MAIN thread for contrast (initdb runs here, unmeasured)');
    mainThreadPglite = await PGlite.create('memory://', { extensions: { vector } });
    const mainDb = new Kysely<Database>({ dialect: new PGliteDialect({ pglite: mainThreadPglite }) });
    mainThreadDb = mainDb;
    await migrateToLatest(mainDb);
    await ensureEmbeddingSpace(mainDb, {
      provider: 'local',
      model: 'marquee-local-v1',
      dimension: DIMENSION,
    });
    results.push(
      await measurePhase(
        `Main thread (contrast): insert ${MAIN_THREAD_ITEMS.toLocaleString('en-US')} items + embeddings, HNSW maintained`,
        activeProbe,
        () => writeAll(mainDb, mainThreadRows, 'main thread', MAIN_THREAD_BUDGET_MS),
      ),
    );

    const table = markdownTable(results);
    console.log('');
    console.log(`Machine: ${machine()}`);
    console.log(`Date: ${date.toISOString()}`);
    console.log(`pgvector ${pgvector}, maintenance_work_mem ${maintenance_work_mem}`);
    console.log(
      `Probe: GET /healthz every ${PROBE_INTERVAL_MS} ms from a worker thread; event-loop delay: ` +
        `monitorEventLoopDelay({ resolution: ${EVENT_LOOP_RESOLUTION_MS} }) on the main thread.`,
    );
    console.log('');
    console.log(table);
    console.log('');
  } finally {
    await probe?.close();
    if (mainThreadDb) await mainThreadDb.destroy();
    if (mainThreadPglite && !mainThreadPglite.closed) await mainThreadPglite.close();
    // The app closes the database it was given; without an app, close the database here.
    if (app) await app.close();
    else if (database) await database.close();
    await rm(dataDir, { recursive: true, force: true });
    log('closed everything and removed the temporary data folder');
  }
}

if (isMainThread) {
  await main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
} else if (parentPort) {
  await runProbeWorker(parentPort, (workerData as { probeUrl: string }).probeUrl);
}
