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
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, openSync, closeSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { CompiledQuery, Kysely, type KyselyConfig, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { DEFAULT_HNSW_EF_SEARCH, loadConfig } from '../src/config.ts';
import { createMemoryCache } from '../src/cache/memory-cache.ts';
import type { Database } from '../src/db/database.ts';
import { findNearestItems } from '../src/repositories/candidates.repository.ts';
import { vectorSearchSettings } from '../src/repositories/vector-index.repository.ts';
import { createPageCache } from '../src/services/page-cache.ts';
import { recommendForUser } from '../src/services/recommendations.service.ts';
import { CLI, freePort } from '../test/helpers/spawn-server.ts';
import { syntheticNdjson } from './synthetic-catalog.ts';
import { writeSyntheticEvents } from './synthetic-events.ts';

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
    // E.g. --server-node-options="--cpu-prof --cpu-prof-dir=/tmp/profiles" to profile the API processes.
    'server-node-options': { type: 'string' },
  },
});
const DURATION_MS = Number(args.duration) * 1000;
const WARMUP_MS = Number(args.warmup) * 1000;
const CONCURRENCY = Number(args.concurrency);
const ADMIN_KEY = 'bench-recommend-admin-key-0123456789';
const PAGE_LIMIT = 20;
const FLOOR_LIMIT = 100;

const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const dbName = args['reuse-db'] ?? `marquee_bench_recommend_${process.pid}`;
const dbUrl = Object.assign(new URL(adminUrl), { pathname: `/${dbName}` }).toString();
const redisPrefix = `marquee-bench:${dbName}:`;
const baseEnv = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '',
  DATABASE_URL: dbUrl,
  REDIS_URL: redisUrl,
  MARQUEE_REDIS_PREFIX: redisPrefix,
  // Trainings only when asked (`marquee train` below), never behind the benchmark's back.
  MARQUEE_MODEL_REFRESH_MINUTES: '0',
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
// Measuring processes: resident memory and CPU time from /proc.

function rssMb(pid: number | undefined, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then(
    (text) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0) / 1024,
    () => 0,
  );
}

const TICKS = 100; // USER_HZ on Linux.
async function processCpuSeconds(pid: number | undefined): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / TICKS;
}

/** CPU seconds the whole machine spent busy (all cores, everything but idle and iowait). */
async function machineBusySeconds(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (user + nice + system + irq + softirq + steal) / TICKS;
}

/** CPU seconds of each Postgres backend connected to this run's database, by pid. */
async function postgresBackendsCpu(): Promise<Map<number, number>> {
  const titles = new Map<number, string>();
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  await Promise.all(
    pids.map(async (pid) => {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      // A backend's title: "postgres: 15/main: <user> <database> <client> <state>"; the parallel workers
      // of a query or an index build (title "parallel worker for PID <backend>") count with it.
      if (
        cmdline.startsWith('postgres:') &&
        (cmdline.includes(` ${dbName} `) || cmdline.includes('parallel worker'))
      )
        titles.set(Number(pid), cmdline);
    }),
  );
  const cpu = new Map<number, number>();
  for (const [pid, title] of titles) {
    const leader = /parallel worker for PID (\d+)/.exec(title)?.[1];
    if (
      leader === undefined
        ? title.includes(` ${dbName} `)
        : titles.get(Number(leader))?.includes(` ${dbName} `)
    )
      cpu.set(pid, await processCpuSeconds(pid));
  }
  return cpu;
}

interface CpuShares {
  seconds: number;
  /** Cores used on average over the window, by process name. */
  processes: Record<string, number>;
  postgres: number;
  machine: number;
}

/**
 * Where the CPU went over a window: the named processes, this database's Postgres backends (sampled every
 * 500 ms, so a backend that lives less than that is missed) and the whole machine, which includes other
 * people's work on a shared host.
 */
function trackCpu(processes: () => Record<string, number | undefined>) {
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  const backendsFirst = new Map<number, number>();
  const backendsLast = new Map<number, number>();
  let machineFrom = 0;
  let started = 0;
  const sample = async (initial: boolean) => {
    const named = Object.entries(processes());
    const values = await Promise.all(named.map(([, pid]) => processCpuSeconds(pid)));
    named.forEach(([name], index) => {
      const value = values[index] ?? 0;
      if (value === 0) return;
      if (initial || !first.has(name)) first.set(name, initial ? value : 0);
      last.set(name, value);
    });
    for (const [pid, value] of await postgresBackendsCpu()) {
      if (!backendsFirst.has(pid)) backendsFirst.set(pid, initial ? value : 0);
      backendsLast.set(pid, value);
    }
  };
  let timer: NodeJS.Timeout | undefined;
  return {
    async start() {
      started = performance.now();
      machineFrom = await machineBusySeconds();
      await sample(true);
      timer = setInterval(() => void sample(false), 500);
    },
    /** Call before the processes exit. */
    async stop(): Promise<CpuShares> {
      clearInterval(timer);
      await sample(false);
      const seconds = (performance.now() - started) / 1000;
      const shares: Record<string, number> = {};
      for (const [name, value] of last) shares[name] = (value - (first.get(name) ?? 0)) / seconds;
      let postgres = 0;
      for (const [pid, value] of backendsLast) postgres += value - (backendsFirst.get(pid) ?? 0);
      return {
        seconds,
        processes: shares,
        postgres: postgres / seconds,
        machine: ((await machineBusySeconds()) - machineFrom) / seconds,
      };
    },
  };
}

const describeCpu = (cpu: CpuShares) =>
  [
    ...Object.entries(cpu.processes).map(([name, cores]) => `${name} ${cores.toFixed(2)}`),
    `postgres ${cpu.postgres.toFixed(2)}`,
    `machine ${cpu.machine.toFixed(2)}`,
  ].join(', ');

// ---------------------------------------------------------------------------------------------------------
// The database and the cache keys of this run.

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

async function flushRedisPrefix(): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true });
  await redis.connect();
  let removed = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) removed += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------------------
// 1. Loading, through the real import processes.

interface LoadStep {
  step: string;
  records: number;
  seconds: number;
  ownSeconds?: number | undefined;
  detail: string;
}
const loadSteps: LoadStep[] = [];

async function runCli(
  cliArgs: string[],
  env: Record<string, string>,
  workers: number,
): Promise<{ stdout: string; seconds: number; peakMb: number; cpu: CpuShares }> {
  const workerProcesses = Array.from({ length: workers }, () =>
    spawn(process.execPath, [CLI, 'worker'], { env, stdio: ['ignore', 'ignore', 'inherit'] }),
  );
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, ...cliArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const cpu = trackCpu(() => ({
    [cliArgs[0] ?? 'cli']: child.pid,
    ...Object.fromEntries(workerProcesses.map((worker, index) => [`worker${index + 1}`, worker.pid])),
  }));
  await cpu.start();
  let peakMb = 0;
  const sampler = setInterval(() => {
    void rssMb(child.pid).then((mb) => (peakMb = Math.max(peakMb, mb)));
  }, 250);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  // The progress display redraws on stderr: keep only the tail.
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
  const [code] = (await once(child, 'exit')) as [number | null];
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const shares = await cpu.stop();
  for (const worker of workerProcesses) worker.kill('SIGTERM');
  await Promise.all(
    workerProcesses.filter((worker) => worker.exitCode === null).map((worker) => once(worker, 'exit')),
  );
  if (code !== 0) throw new Error(`marquee ${cliArgs.join(' ')} exited with ${code}:\n${stderr}`);
  return { stdout, seconds, peakMb, cpu: shares };
}

async function importFile(kind: 'items' | 'events', file: string, records: number): Promise<void> {
  const env = { ...baseEnv, LOG_LEVEL: 'warn' };
  const run = await runCli(['import', kind, file], env, Number(args.workers));
  const status = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as {
    status: string;
    counts: Record<string, number>;
    timings: { durationMs: number | null };
  };
  if (status.status !== 'completed') throw new Error(`${kind} import ended ${status.status}`);
  const ownSeconds = status.timings.durationMs === null ? undefined : status.timings.durationMs / 1000;
  loadSteps.push({
    step: `import ${kind}`,
    records,
    seconds: run.seconds,
    ownSeconds,
    detail:
      `${JSON.stringify(status.counts)}; import process peak ${Math.round(run.peakMb)} MB; ` +
      `CPU cores: ${describeCpu(run.cpu)}`,
  });
  console.log(
    `imported ${kind}: ${records} records in ${run.seconds.toFixed(1)} s ` +
      `(${Math.round(records / run.seconds)}/s); ${JSON.stringify(status.counts)}`,
  );
}

async function load(): Promise<void> {
  const items = Number(args.items);
  const users = Number(args.users);
  const events = Number(args.events);
  const dir = await mkdtemp(join(os.tmpdir(), 'marquee-bench-recommend-'));
  try {
    let started = performance.now();
    const itemsFile = join(dir, 'items.ndjson');
    await pipeline(syntheticNdjson({ count: items }), createWriteStream(itemsFile));
    const eventsFile = join(dir, 'events.ndjson');
    const summary = await writeSyntheticEvents(eventsFile, {
      items,
      users,
      events,
      order: args['event-order'] === 'time' ? 'time' : 'user',
    });
    const generated = (performance.now() - started) / 1000;
    loadSteps.push({
      step: 'generate files',
      records: items + summary.events,
      seconds: generated,
      detail:
        `events per user: max ${summary.maxPerUser}, median ${summary.medianPerUser}; ` +
        `top 1 % of items get ${(summary.topItemsShare * 100).toFixed(0)} % of events; order by ${args['event-order']}`,
    });
    console.log(`generated ${items} items and ${summary.events} events in ${generated.toFixed(1)} s`);

    await importFile('items', itemsFile, items);
    await importFile('events', eventsFile, summary.events);

    started = performance.now();
    const train = await runCli(['train'], { ...baseEnv, LOG_LEVEL: 'warn' }, 0);
    const outcome = JSON.parse(train.stdout.trim().split('\n').at(-1) ?? '{}') as {
      model: string;
      events: number;
      users: number;
      items: number;
      neighbourRows: number;
      durationMs: number;
    };
    loadSteps.push({
      step: 'marquee train',
      records: outcome.events,
      seconds: train.seconds,
      ownSeconds: outcome.durationMs / 1000,
      detail:
        `${outcome.model}: ${outcome.users} users, ${outcome.items} items, ${outcome.neighbourRows} neighbour ` +
        `lists; peak ${Math.round(train.peakMb)} MB; CPU cores: ${describeCpu(train.cpu)}`,
    });
    console.log(`trained in ${train.seconds.toFixed(1)} s: ${JSON.stringify(outcome)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
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
  ['rankable rows', /select "items"\.\*/],
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
  const config = loadConfig({ DATABASE_URL: dbUrl, MARQUEE_RECOMMENDATION_CACHE_SECONDS: '0' });
  let current: { kind: string; start: number; end: number; query: CompiledQuery }[] = [];
  let replaying = false;
  const db = openPool(config.database.kind === 'postgres' ? config.database.poolSize : 10, (event) => {
    if (replaying) return;
    const end = performance.now();
    const kind = QUERY_KINDS.find(([, pattern]) => pattern.test(event.query.sql))?.[0] ?? 'other';
    current.push({ kind, start: end - event.queryDurationMillis, end, query: event.query });
  });
  const deps = {
    db,
    config: config.recommender,
    embeddingModel: config.embedding.model,
    pageCache: createPageCache(createMemoryCache()),
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
    await db.destroy();
  }
  result.slowest.sort((a, b) => b.ms - a.ms);
  result.slowest = result.slowest.slice(0, 5);
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// 3. HTTP load.

interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  statuses: Record<string, number>;
  cache: Record<string, number>;
  cpuSeconds: number;
}
interface Measured extends LoadResult {
  name: string;
  note: string;
  cpu: CpuShares;
  rssMb?: number | undefined;
  peakRssMb?: number | undefined;
}
const measured: Measured[] = [];

async function runLoad(
  base: string,
  paths: readonly string[],
  pick: 'cycle' | 'random',
  headers: Record<string, string>,
): Promise<LoadResult> {
  const child = spawn(
    process.execPath,
    [
      new URL('./recommend.load.ts', import.meta.url).pathname,
      JSON.stringify({
        base,
        concurrency: CONCURRENCY,
        durationMs: DURATION_MS,
        warmupMs: WARMUP_MS,
        pick,
        headers,
      }),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  child.stdin.end(paths.join('\n'));
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the load generator exited with ${code}`);
  return JSON.parse(stdout) as LoadResult;
}

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
  const cpu = trackCpu(() => ({ server: server?.pid ?? process.pid }));
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

interface Server {
  process: ChildProcess;
  base: string;
  logFile: string;
  stop(): Promise<void>;
}

/** `marquee serve` as a real process; its log goes to a file (pino writes every request at info). */
async function startServer(env: Record<string, string>, logFile: string): Promise<Server> {
  const port = await freePort();
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: {
      ...baseEnv,
      PORT: String(port),
      ...env,
      ...(args['server-node-options'] && { NODE_OPTIONS: args['server-node-options'] }),
    },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const base = `http://127.0.0.1:${port}`;
  const started = performance.now();
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(
        `marquee serve exited (${child.exitCode}):\n${(await readFile(logFile, 'utf8')).slice(-3_000)}`,
      );
    if (performance.now() - started > 60_000) {
      child.kill('SIGKILL');
      throw new Error('marquee serve was not ready within 60 s');
    }
    const ready = await fetch(`${base}/readyz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    process: child,
    base,
    logFile,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    },
  };
}

/** Requests each path once, `CONCURRENCY` at a time; returns the x-cache counts. */
async function warm(base: string, paths: readonly string[], headers: Record<string, string>) {
  const counts: Record<string, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < paths.length) {
        const response = await fetch(`${base}${paths[next++]}`, { headers });
        await response.arrayBuffer();
        const label = `${response.status} ${response.headers.get('x-cache') ?? 'none'}`;
        counts[label] = (counts[label] ?? 0) + 1;
      }
    }),
  );
  return counts;
}

async function serverLogProblems(logFile: string): Promise<string[]> {
  const lines = (await readFile(logFile, 'utf8').catch(() => '')).split('\n');
  return lines.filter((line) => /"level":(40|50|60)/.test(line)).slice(0, 5);
}

// ---------------------------------------------------------------------------------------------------------

const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
};
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
  const detail = await breakdown(profileUsers);

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

  // 3a. Uncached.
  let page: string;
  {
    const server = await startServer(
      { ...serverEnv, MARQUEE_RECOMMENDATION_CACHE_SECONDS: '0' },
      join(logDir, 'uncached.log'),
    );
    try {
      const sample = await fetch(`${server.base}${pathOf(userIds[0]!)}`, { headers });
      page = await sample.text();
      if (sample.status !== 200) throw new Error(`a page answered ${sample.status}: ${page}`);
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
  {
    const server = await startServer(serverEnv, join(logDir, 'cached.log'));
    try {
      const paths = userIds.slice(0, Number(args['cached-users'])).map(pathOf);
      const warmed = await warm(server.base, paths, headers);
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
  {
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
  {
    const latencies: number[] = [];
    await measure(
      `d. floor (findNearestItems, limit ${FLOOR_LIMIT}, pg pool)`,
      `${interests.length} users' main interest, no exclusions, no HTTP`,
      undefined,
      async () => {
        const cpuFrom = { usage: process.cpuUsage() };
        const warmupEnd = performance.now() + WARMUP_MS;
        const end = warmupEnd + DURATION_MS;
        let measuredFrom = 0;
        setTimeout(() => {
          measuredFrom = performance.now();
          cpuFrom.usage = process.cpuUsage();
        }, WARMUP_MS);
        let turn = 0;
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            for (;;) {
              const started = performance.now();
              if (started >= end) return;
              await findNearestItems(db, interests[turn++ % interests.length]!, {
                limit: FLOOR_LIMIT,
                filters: {},
              });
              if (started >= warmupEnd) latencies.push(performance.now() - started);
            }
          }),
        );
        const seconds = (performance.now() - measuredFrom) / 1000;
        const cpu = process.cpuUsage(cpuFrom.usage);
        return {
          requests: latencies.length,
          errors: 0,
          seconds,
          perSecond: latencies.length / seconds,
          p50: percentile(latencies, 0.5),
          p90: percentile(latencies, 0.9),
          p99: percentile(latencies, 0.99),
          max: Math.max(...latencies),
          statuses: {},
          cache: {},
          cpuSeconds: (cpu.user + cpu.system) / 1e6,
        };
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
  const [uncached, cached, ceiling, floor] = measured;
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
if (!args['reuse-db']) await adminQuery(`CREATE DATABASE "${dbName}"`);
let failed = false;
try {
  if (!args['reuse-db']) await load();

  if (args['only-load']) printLoadSteps();
  else await measureServing();
} catch (error) {
  failed = true;
  throw error;
} finally {
  const removed = await flushRedisPrefix().catch(() => -1);
  console.log(`\nremoved ${removed} Redis keys under ${redisPrefix}`);
  if (args['reuse-db'] || args['keep-db']) console.log(`kept database ${dbName} (--reuse-db ${dbName})`);
  else await adminQuery(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  await rm(logDir, { recursive: true, force: true });
  if (failed) process.exitCode = 1;
}
