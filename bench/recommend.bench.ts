/**
 * Recommendation serving, served mode: how fast `GET /v1/users/:userId/recommendations` answers on a
 * catalog of 100,000 items, 20,000 users and 1M events, against what the machine could do at best.
 *
 * 1. Load (skipped with --reuse-db): a fresh Postgres database `marquee_bench_recommend_<pid>`; synthetic
 *    items (bench/synthetic-catalog.ts) and events (bench/synthetic-events.ts: Zipf item popularity, skewed
 *    user activity, 90 days) imported by real `marquee import items|events` processes with `marquee worker`
 *    processes beside them, as bench/import.bench.ts does (items are embedded by the local embedder, user
 *    profiles refreshed per events batch); then `marquee train`. Each step is timed, with the CPU it used.
 *    The events file is ordered by user (--event-order user): ordered by time, each batch touches hundreds
 *    of users whose profiles are all rebuilt, and the import is about 12 times slower (100k events: 639 s
 *    against 55 s here).
 * 2. Where the time of an uncached page goes: the service (recommendForUser) called in this process, one
 *    page at a time, every statement timed through Kysely's log hook, then replayed alone.
 * 3. HTTP, each for --duration seconds at --concurrency after --warmup seconds, with a load generator in its
 *    own process (bench/recommend.load.ts):
 *    a. uncached: `marquee serve` with MARQUEE_RECOMMENDATION_CACHE_SECONDS=0, a random user per request;
 *    b. cached: `marquee serve` with the default cache, --cached-users pages warmed first, then requested;
 *    c. ceiling: a bare Fastify server in this process answering one captured page from memory;
 *    d. floor: the HNSW query alone (findNearestItems, a user's main interest, limit 100) through a pg pool,
 *       at the same concurrency, no HTTP.
 *    Beside each: the CPU used by the server, this database's Postgres backends, the load generator and the
 *    whole machine. On a 2-core host the load generator takes a good share of what the server could use,
 *    and the machine figure shows anything else running.
 *
 * Needs Postgres with pgvector and Redis: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres,
 * where the bench database is created, and dropped unless --keep-db) and REDIS_URL (default
 * redis://127.0.0.1:6379/0; only keys under this run's prefix are written and deleted). Prints tables and
 * asserts nothing.
 *
 * Run: npm run bench:recommend [-- --items 10000 --users 2000 --events 100000]
 *      [--only-load --keep-db | --reuse-db NAME] [--duration 20 --warmup 3 --concurrency 16]
 *      [--cached-users 500 --breakdown-requests 200 --workers 1 --log-level info --event-order user]
 *      [--server-node-options="--cpu-prof --cpu-prof-dir=DIR"]
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { CompiledQuery, Kysely, type KyselyConfig, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { DEFAULT_HNSW_EF_SEARCH, loadConfig } from '../src/config.ts';
import { createMemoryCache } from '../src/cache/memory-cache.ts';
import type { Database } from '../src/db/database.ts';
import { findNearestItems } from '../src/repositories/candidates.repository.ts';
import { vectorSearchSettings } from '../src/repositories/vector-index.repository.ts';
import { startModelSnapshot } from '../src/services/model-snapshot.service.ts';
import { createPageCache } from '../src/services/page-cache.ts';
import { recommendForUser } from '../src/services/recommendations.service.ts';
import { adminQuery, databaseUrlFor, flushRedisPrefix } from './bench-stores.ts';
import { type LoadResult, percentile, runCalls, runLoad as runLoadClient, warm } from './load-client.ts';
import { type LoadStep, loadSyntheticData } from './load-synthetic-data.ts';
import { type CpuShares, describeCpu, rssMb, trackCpu } from './process-usage.ts';
import { serverLogProblems, startServeProcess, waitForModelInMemory } from './serve-process.ts';

const { values: args } = parseArgs({
  options: {
    items: { type: 'string', default: '100000' },
    users: { type: 'string', default: '20000' },
    events: { type: 'string', default: '1000000' },
    'reuse-db': { type: 'string' },
    'keep-db': { type: 'boolean', default: false },
    'only-load': { type: 'boolean', default: false },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '16' },
    'cached-users': { type: 'string', default: '500' },
    'event-order': { type: 'string', default: 'user' },
    'log-level': { type: 'string', default: 'info' },
    'breakdown-requests': { type: 'string', default: '200' },
    workers: { type: 'string', default: '1' },
    // Which parts run (a comparison of one part, e.g. --runs cached,ceiling); the ratios need all four runs.
    runs: { type: 'string', default: 'breakdown,uncached,cached,ceiling,floor' },
    // E.g. --server-node-options="--cpu-prof --cpu-prof-dir=/tmp/profiles" to profile the API processes.
    'server-node-options': { type: 'string' },
  },
});
const RUNS = new Set(args.runs.split(','));
const DURATION_MS = Number(args.duration) * 1000;
const WARMUP_MS = Number(args.warmup) * 1000;
const CONCURRENCY = Number(args.concurrency);
const ADMIN_KEY = 'bench-recommend-admin-key-0123456789';
const PAGE_LIMIT = 20;
const FLOOR_LIMIT = 100;

const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const dbName = args['reuse-db'] ?? `marquee_bench_recommend_${process.pid}`;
const dbUrl = databaseUrlFor(adminUrl, dbName);
const redisPrefix = `marquee-bench:${dbName}:`;
const baseEnv = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '',
  DATABASE_URL: dbUrl,
  REDIS_URL: redisUrl,
  MARQUEE_REDIS_PREFIX: redisPrefix,
  // Trainings only when asked (`marquee train` below), never behind the benchmark's back.
  MARQUEE_MODEL_REFRESH_MINUTES: '0',
  // MARQUEE_MODEL_MEMORY_MB=0 in the bench's environment measures the SQL paths (no in-memory model).
  ...(process.env.MARQUEE_MODEL_MEMORY_MB !== undefined && {
    MARQUEE_MODEL_MEMORY_MB: process.env.MARQUEE_MODEL_MEMORY_MB,
  }),
};

const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(
  `${os.cpus().length} cores (${cpuModel}), ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}; ` +
    `load average ${os
      .loadavg()
      .map((value) => value.toFixed(1))
      .join(' ')} at start; database ${dbName}`,
);

// ---------------------------------------------------------------------------------------------------------
// 1. Loading, through the real import processes (bench/load-synthetic-data.ts).

const loadSteps: LoadStep[] = [];

async function load(): Promise<void> {
  loadSteps.push(
    ...(await loadSyntheticData({
      items: Number(args.items),
      users: Number(args.users),
      events: Number(args.events),
      eventOrder: args['event-order'] === 'time' ? 'time' : 'user',
      env: { ...baseEnv, LOG_LEVEL: 'warn' },
      workers: Number(args.workers),
      dbName,
    })),
  );
}

// ---------------------------------------------------------------------------------------------------------
// The data the load needs: users, and interest vectors for the floor.

/** A Kysely on a pg pool with the session settings the server's connections get (src/db/connect.ts). */
function openPool(size: number, log?: KyselyConfig['log']): Kysely<Database> {
  const efSearch = loadConfig({ DATABASE_URL: dbUrl }).database.hnswEfSearch ?? DEFAULT_HNSW_EF_SEARCH;
  const pool = new pg.Pool({
    connectionString: dbUrl,
    max: size,
    options: Object.entries(vectorSearchSettings(efSearch, 'postgres'))
      .map(([name, value]) => `-c ${name}=${value}`)
      .join(' '),
  });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }), ...(log && { log }) });
}

// ---------------------------------------------------------------------------------------------------------
// 2. Where the time of an uncached page goes.

const QUERY_KINDS: [string, RegExp][] = [
  ['profile', /from "user_profiles"/],
  ['consumed items', /from "events"/],
  ['vector (HNSW)', /with "nearest"/],
  ['fresh (vector + filter)', /release_year >= /],
  ['collaborative neighbours', /from "item_neighbours"/],
  ['trending', /item_stats\."trending/],
  ['popular', /item_stats\."popularity/],
  ['editorial', /'boost'/],
  ['evidence summaries', /select "items"\."id", "items"\."title"/],
  ['rankable candidates (filters)', /select "items"\."id", "items"\."genres", "items"\."series_id"/],
  ['rows of the page', /select \* from "items"/],
  ['impressions insert', /insert into "recommendation_impressions"/],
];

interface Breakdown {
  /** By kind of statement: client-side ms per page as run (in parallel), and alone (replayed one by one). */
  kinds: Map<string, { asRun: number[]; alone: number[]; count: number }>;
  totals: number[];
  outsideQueries: number[];
  slowest: { userId: string; ms: number; consumed: number; byKind: Record<string, number> }[];
}

/**
 * Calls recommendForUser for each user, one page at a time, with every statement timed by Kysely's log hook
 * (from the client: sent to result read, so a statement that waits for the event loop looks longer); then
 * replays the page's SELECTs one by one to time each alone.
 */
async function breakdown(userIds: readonly string[]): Promise<Breakdown> {
  const config = loadConfig({ ...baseEnv, MARQUEE_RECOMMENDATION_CACHE_SECONDS: '0' });
  let current: { kind: string; start: number; end: number; query: CompiledQuery }[] = [];
  let replaying = false;
  const db = openPool(config.database.kind === 'postgres' ? config.database.poolSize : 10, (event) => {
    if (replaying) return;
    const end = performance.now();
    const kind = QUERY_KINDS.find(([, pattern]) => pattern.test(event.query.sql))?.[0] ?? 'other';
    current.push({ kind, start: end - event.queryDurationMillis, end, query: event.query });
  });
  // The model in memory as `marquee serve` holds it, loaded before the first page.
  const model = startModelSnapshot({
    db,
    memoryLimitBytes: config.recommender.modelMemoryBytes,
    logger: { info: () => {}, warn: (object, message) => console.warn(message, object) },
    poll: false,
  });
  await model.refresh();
  await model.settled();
  const deps = {
    db,
    config: config.recommender,
    embeddingModel: config.embedding.model,
    pageCache: createPageCache(createMemoryCache()),
    model,
  };
  const result: Breakdown = { kinds: new Map(), totals: [], outsideQueries: [], slowest: [] };
  const request = (userId: string) => recommendForUser(deps, { userId, limit: PAGE_LIMIT, filters: {} });
  const entryOf = (kind: string) => {
    let entry = result.kinds.get(kind);
    if (!entry) result.kinds.set(kind, (entry = { asRun: [], alone: [], count: 0 }));
    return entry;
  };
  try {
    // Warm the pool and the plans.
    for (const userId of userIds.slice(0, 10)) await request(userId);
    for (const userId of userIds) {
      current = [];
      const started = performance.now();
      await request(userId);
      const total = performance.now() - started;
      result.totals.push(total);
      const byKind: Record<string, number> = {};
      const aloneByKind: Record<string, number> = {};
      for (const query of current) byKind[query.kind] = (byKind[query.kind] ?? 0) + (query.end - query.start);
      // Time with no statement in flight: the service's own JavaScript (and the event loop's turns).
      const intervals = current.map((q) => [q.start, q.end] as const).sort((a, b) => a[0] - b[0]);
      let covered = 0;
      let reach = started;
      for (const [start, end] of intervals) {
        if (end <= reach) continue;
        covered += end - Math.max(start, reach);
        reach = end;
      }
      result.outsideQueries.push(total - covered);
      replaying = true;
      for (const { kind, query } of current) {
        if (!/^\s*(select|with)/i.test(query.sql)) continue;
        const replayStarted = performance.now();
        await db.executeQuery(CompiledQuery.raw(query.sql, [...query.parameters]));
        aloneByKind[kind] = (aloneByKind[kind] ?? 0) + performance.now() - replayStarted;
      }
      const consumed = await sql<{ n: number }>`
        SELECT count(DISTINCT item_id)::int AS n FROM events WHERE user_id = ${userId}`.execute(db);
      replaying = false;
      for (const [kind, ms] of Object.entries(byKind)) {
        const entry = entryOf(kind);
        entry.asRun.push(ms);
        entry.alone.push(aloneByKind[kind] ?? Number.NaN);
        entry.count += current.filter((query) => query.kind === kind).length;
      }
      result.slowest.push({ userId, ms: total, consumed: consumed.rows[0]?.n ?? 0, byKind });
    }
  } finally {
    model.stop();
    await db.destroy();
  }
  result.slowest.sort((a, b) => b.ms - a.ms);
  result.slowest = result.slowest.slice(0, 5);
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// 3. HTTP load.

interface Measured extends LoadResult {
  name: string;
  note: string;
  cpu: CpuShares;
  rssMb?: number | undefined;
  peakRssMb?: number | undefined;
}
const measured: Measured[] = [];

const runLoad = (
  base: string,
  paths: readonly string[],
  pick: 'cycle' | 'random',
  headers: Record<string, string>,
) =>
  runLoadClient(
    { bases: [base], concurrency: CONCURRENCY, durationMs: DURATION_MS, warmupMs: WARMUP_MS, pick, headers },
    paths,
  );

/**
 * Runs a load and records it with the CPU used over its measured window (after the warm-up) by the server
 * (`server`: a child process, or this one), this database's Postgres backends, and the whole machine.
 */
async function measure(
  name: string,
  note: string,
  server: ChildProcess | undefined,
  run: () => Promise<LoadResult>,
): Promise<Measured> {
  const cpu = trackCpu(() => ({ server: server?.pid ?? process.pid }), dbName);
  const started = new Promise<void>((resolve) => setTimeout(() => void cpu.start().then(resolve), WARMUP_MS));
  const result = await run();
  await started;
  const shares = await cpu.stop();
  const row: Measured = {
    name,
    note,
    ...result,
    cpu: shares,
    rssMb: server ? await rssMb(server.pid) : undefined,
    peakRssMb: server ? await rssMb(server.pid, 'VmHWM') : undefined,
  };
  measured.push(row);
  console.log(
    `${name}: ${Math.round(row.perSecond)}/s, p50 ${row.p50.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms; ` +
      `statuses ${JSON.stringify(row.statuses)}, x-cache ${JSON.stringify(row.cache)}, errors ${row.errors}; ` +
      `CPU cores: ${describeCpu(shares)}, load generator ${(row.cpuSeconds / row.seconds).toFixed(2)}`,
  );
  return row;
}

/**
 * `marquee serve` as a real process; its log goes to a file (pino writes every request at info). Ready once
 * it holds its model in memory (the load is not what a run measures).
 */
const startServer = async (env: Record<string, string>, logFile: string) => {
  const server = await startServeProcess(
    {
      ...baseEnv,
      ...env,
      ...(args['server-node-options'] && { NODE_OPTIONS: args['server-node-options'] }),
    },
    logFile,
  );
  const { inMemory, waitedMs } = await waitForModelInMemory(server.base, {
    authorization: `Bearer ${ADMIN_KEY}`,
  });
  console.log(`model in memory after ${waitedMs} ms: ${JSON.stringify(inMemory)}`);
  return server;
};

// ---------------------------------------------------------------------------------------------------------

const mean = (values: readonly number[]) =>
  values.reduce((sum, value) => sum + value, 0) / (values.length || 1);
const shuffle = <T>(list: T[]) => {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
};

function printLoadSteps(): void {
  if (loadSteps.length === 0) return;
  console.log('| load step | records | seconds (process) | records/s | seconds (own) | detail |');
  console.log('| --- | ---: | ---: | ---: | ---: | --- |');
  for (const step of loadSteps)
    console.log(
      `| ${step.step} | ${step.records} | ${step.seconds.toFixed(1)} | ${Math.round(step.records / step.seconds)} | ` +
        `${step.ownSeconds?.toFixed(1) ?? '-'} | ${step.detail} |`,
    );
  console.log('');
}

async function measureServing(): Promise<void> {
  const db = openPool(CONCURRENCY);
  const sizes = await sql<{
    items: number;
    events: number;
    users: number;
    profiles: number;
    neighbours: number;
    size: string;
  }>`
    SELECT (SELECT count(*) FROM items)::int AS items, (SELECT count(*) FROM events)::int AS events,
           (SELECT count(*) FROM users)::int AS users, (SELECT count(*) FROM user_profiles)::int AS profiles,
           (SELECT count(*) FROM item_neighbours)::int AS neighbours,
           pg_size_pretty(pg_database_size(current_database())) AS size`.execute(db);
  console.log(`database: ${JSON.stringify(sizes.rows[0])}`);
  const userIds = shuffle(
    (await sql<{ id: string }>`SELECT id FROM users ORDER BY id`.execute(db)).rows.map((row) => row.id),
  );
  const interestRows = await sql<{ vector: string }>`
    SELECT profile -> 'interests' -> 0 ->> 'vector' AS vector FROM user_profiles
    WHERE jsonb_array_length(profile -> 'interests') > 0 ORDER BY random() LIMIT 2000`.execute(db);
  const interests = interestRows.rows.map((row) => Float32Array.from(JSON.parse(row.vector) as number[]));

  // 2. The service, one request at a time, every statement timed.
  const profileUsers = userIds.slice(0, Number(args['breakdown-requests']));
  const detail = RUNS.has('breakdown') ? await breakdown(profileUsers) : undefined;

  const headers = { authorization: `Bearer ${ADMIN_KEY}` };
  const pathOf = (userId: string) =>
    `/v1/users/${encodeURIComponent(userId)}/recommendations?limit=${PAGE_LIMIT}`;
  const serverEnv = {
    MARQUEE_ADMIN_KEY: ADMIN_KEY,
    LOG_LEVEL: args['log-level'],
    // The bench sends far more than a client key's 12,000 a minute; the limiter still counts in Redis.
    MARQUEE_RATE_LIMIT_ADMIN: '10000000',
    MARQUEE_RATE_LIMIT_CLIENT: '10000000',
    // Import jobs and trainings stay out of the API process.
    MARQUEE_API_JOB_CONCURRENCY: '0',
  };

  // 3a. Uncached (its first page is what the ceiling serves).
  let page = '';
  if (RUNS.has('uncached') || RUNS.has('ceiling')) {
    const server = await startServer(
      { ...serverEnv, MARQUEE_RECOMMENDATION_CACHE_SECONDS: '0' },
      join(logDir, 'uncached.log'),
    );
    try {
      const sample = await fetch(`${server.base}${pathOf(userIds[0]!)}`, { headers });
      page = await sample.text();
      if (sample.status !== 200) throw new Error(`a page answered ${sample.status}: ${page}`);
      if (RUNS.has('uncached'))
        await measure(
          'a. uncached (HTTP, a random user of all)',
          'MARQUEE_RECOMMENDATION_CACHE_SECONDS=0',
          server.process,
          () => runLoad(server.base, userIds.map(pathOf), 'random', headers),
        );
      console.log(`server log warnings: ${JSON.stringify(await serverLogProblems(server.logFile))}`);
    } finally {
      await server.stop();
    }
  }

  // 3b. Cached.
  if (RUNS.has('cached')) {
    const server = await startServer(serverEnv, join(logDir, 'cached.log'));
    try {
      const paths = userIds.slice(0, Number(args['cached-users'])).map(pathOf);
      const warmed = await warm(server.base, paths, headers, CONCURRENCY);
      console.log(`warmed ${paths.length} pages: ${JSON.stringify(warmed)}`);
      await measure(
        `b. cached (HTTP, ${paths.length} warmed users)`,
        'default cache (300 s)',
        server.process,
        () => runLoad(server.base, paths, 'random', headers),
      );
      console.log(`server log warnings: ${JSON.stringify(await serverLogProblems(server.logFile))}`);
    } finally {
      await server.stop();
    }
  }

  // 3c. Ceiling: the same page from memory, bare Fastify in this process.
  if (RUNS.has('ceiling')) {
    const payload = JSON.parse(page) as unknown;
    const app = Fastify({ logger: false });
    app.get('/v1/users/:userId/recommendations', async (_request, reply) => {
      reply.header('x-cache', 'hit');
      return payload;
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('not listening');
    const base = `http://127.0.0.1:${address.port}`;
    try {
      await measure(
        'c. ceiling (bare Fastify, page from memory)',
        `${page.length} bytes, served by the bench process`,
        undefined,
        () => runLoad(base, userIds.slice(0, 500).map(pathOf), 'random', headers),
      );
    } finally {
      await app.close();
    }
  }

  // 3d. Floor: the HNSW query alone.
  if (RUNS.has('floor')) {
    await measure(
      `d. floor (findNearestItems, limit ${FLOOR_LIMIT}, pg pool)`,
      `${interests.length} users' main interest, no exclusions, no HTTP`,
      undefined,
      async () => {
        let turn = 0;
        return runCalls({ concurrency: CONCURRENCY, durationMs: DURATION_MS, warmupMs: WARMUP_MS }, () => {
          const interest = interests[turn++ % interests.length]!;
          return () => findNearestItems(db, interest, { limit: FLOOR_LIMIT, filters: {} });
        });
      },
    );
  }
  await db.destroy();

  // ---------------------------------------------------------------------------------------------------------
  console.log(
    `\n${os.cpus().length} cores (${cpuModel}), Node ${process.version}; database ${JSON.stringify(sizes.rows[0])}; ` +
      `concurrency ${CONCURRENCY}, ${DURATION_MS / 1000} s measured after ${WARMUP_MS / 1000} s of warm-up; ` +
      `server LOG_LEVEL=${args['log-level']}; load average now ${os
        .loadavg()
        .map((v) => v.toFixed(1))
        .join(' ')}\n`,
  );
  printLoadSteps();
  console.log(
    '| run | requests | per second | p50 ms | p90 ms | p99 ms | max ms | x-cache | CPU cores: server | Postgres (this db) | load generator | whole machine | CPU ms per request (server + Postgres) | server RSS MB (peak) |',
  );
  console.log(
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const row of measured) {
    const inBench = row.rssMb === undefined;
    console.log(
      `| ${row.name} | ${row.requests} | ${Math.round(row.perSecond)} | ${row.p50.toFixed(1)} | ${row.p90.toFixed(1)} | ` +
        `${row.p99.toFixed(1)} | ${row.max.toFixed(0)} | ${Object.entries(row.cache)
          .map(([label, count]) => `${label} ${count}`)
          .join(', ')} | ${inBench ? '(bench) ' : ''}${(row.cpu.processes.server ?? 0).toFixed(2)} | ` +
        `${row.cpu.postgres.toFixed(2)} | ${row.name.startsWith('d.') ? '-' : (row.cpuSeconds / row.seconds).toFixed(2)} | ` +
        `${row.cpu.machine.toFixed(2)} | ` +
        `${((((row.cpu.processes.server ?? 0) + row.cpu.postgres) / row.perSecond) * 1000).toFixed(2)} | ` +
        `${inBench ? '-' : `${Math.round(row.rssMb ?? 0)} (${Math.round(row.peakRssMb ?? 0)})`} |`,
    );
  }
  const run = (prefix: string) => measured.find((row) => row.name.startsWith(prefix));
  const [uncached, cached, ceiling, floor] = ['a.', 'b.', 'c.', 'd.'].map(run);
  if (uncached && cached && ceiling && floor) {
    const hits = cached.cache.hit ?? 0;
    console.log(
      `\nuncached p99 ${uncached.p99.toFixed(1)} ms (target <= 50 ms: ${uncached.p99 <= 50 ? 'met' : 'NOT met'})` +
        `\ncached / ceiling throughput ${((cached.perSecond / ceiling.perSecond) * 100).toFixed(0)} % (target >= 60 %: ` +
        `${cached.perSecond / ceiling.perSecond >= 0.6 ? 'met' : 'NOT met'}); cached x-cache hit ${((hits / cached.requests) * 100).toFixed(1)} %` +
        `\nuncached / floor latency: p50 ${(uncached.p50 / floor.p50).toFixed(1)}x, p99 ${(uncached.p99 / floor.p99).toFixed(1)}x; ` +
        `throughput floor / uncached ${(floor.perSecond / uncached.perSecond).toFixed(1)}x`,
    );
  }
  if (!detail) return;
  console.log(
    `\nWhere an uncached page's time goes (recommendForUser in this process, ${detail.totals.length} users one page ` +
      `at a time, ms seen by the client; "as run": the page's statements, several in flight at once, so they ` +
      `add up to more than the page; "alone": the same SELECTs replayed one by one right after):`,
  );
  console.log('| part | statements per page | as run: mean | p50 | p99 | alone: mean | p50 | p99 |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const cells = (values: readonly number[]) =>
    `${mean(values).toFixed(1)} | ${percentile(values, 0.5).toFixed(1)} | ${percentile(values, 0.99).toFixed(1)}`;
  console.log(`| whole page | - | ${cells(detail.totals)} | | | |`);
  console.log(`| no statement in flight (JavaScript) | - | ${cells(detail.outsideQueries)} | | | |`);
  const pages = detail.totals.length;
  const padded = (values: readonly number[]) => [...values, ...Array<number>(pages - values.length).fill(0)];
  for (const [kind, entry] of [...detail.kinds].sort((a, b) => mean(b[1].alone) - mean(a[1].alone))) {
    const alone = entry.alone.filter((value) => !Number.isNaN(value));
    console.log(
      `| ${kind} | ${(entry.count / pages).toFixed(1)} | ${cells(padded(entry.asRun))} | ` +
        `${alone.length > 0 ? cells(padded(alone)) : '- | - | -'} |`,
    );
  }
  console.log('\nslowest pages:');
  for (const slow of detail.slowest)
    console.log(
      `  ${slow.userId}: ${slow.ms.toFixed(0)} ms, ${slow.consumed} distinct items consumed; ` +
        Object.entries(slow.byKind)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 4)
          .map(([kind, ms]) => `${kind} ${ms.toFixed(0)}`)
          .join(', '),
    );
}

const logDir = await mkdtemp(join(os.tmpdir(), 'marquee-bench-recommend-logs-'));
if (!args['reuse-db']) await adminQuery(adminUrl, `CREATE DATABASE "${dbName}"`);
let failed = false;
try {
  if (!args['reuse-db']) await load();

  if (args['only-load']) printLoadSteps();
  else await measureServing();
} catch (error) {
  failed = true;
  throw error;
} finally {
  const removed = await flushRedisPrefix(redisUrl, redisPrefix).catch(() => -1);
  console.log(`\nremoved ${removed} Redis keys under ${redisPrefix}`);
  if (args['reuse-db'] || args['keep-db']) console.log(`kept database ${dbName} (--reuse-db ${dbName})`);
  else await adminQuery(adminUrl, `DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  await rm(logDir, { recursive: true, force: true });
  if (failed) process.exitCode = 1;
}
