/**
 * The benchmark suite (`npm run bench`): every serving benchmark, embedded and served, each beside its own
 * ceiling and floor measured in the same run, and one Markdown table at the end.
 *
 * For each mode (embedded: `marquee serve` on a PGlite data folder with the in-process cache; served: on a
 * fresh Postgres database `marquee_bench_suite_<pid>` with Redis, keys under `marquee-bench:<database>:`):
 *
 * 1. import: synthetic items and events (bench/load-synthetic-data.ts: real `marquee import` processes, a
 *    `marquee worker` beside them when served), then `marquee train`. Throughput and peak memory.
 * 2. HTTP load from a separate process (bench/recommend.load.ts, keep-alive, --concurrency clients), each
 *    phase --warmup s unmeasured then --duration s measured, API resident memory read at its end:
 *    - recommendations, uncached (page cache off) and cached (--cached-users pages warmed, then requested);
 *    - similar items (page cache off), a random item of a sample;
 *    - search, `POST /v1/search` with a title or two words of a description, a random one of a sample;
 *    - explanation, `explain=true` pages (page cache off) from --explain-concurrency clients, each page for
 *      a user not asked before, against the local OpenAI-compatible test server answering in --llm-latency ms;
 *    - mixed: 70 % recommendations, 10 % similar, 10 % search and 10 % events posted, for --mixed-users users
 *      with the default caches (cold at the start);
 *    - served, cached recommendations and mixed traffic again on --replicas API processes on the same
 *      Postgres and Redis, the client spreading requests over them in turn (the mixed run has users and
 *      items of its own, so that it does not start on the 1-process run's cache).
 * 3. Ceilings: a bare Fastify server in this process answering the same requests with a page captured from
 *    the real API (one route per endpoint, payload from memory). Floors: the bare SQL behind each endpoint,
 *    in this process on the same database at the same concurrency, no HTTP: the HNSW query (limit 100) for
 *    recommendations (a user's main interest) and similar items (the item's embedding); the full-text query
 *    and the HNSW query at once for search (the vector of the item the query was taken from stands in for
 *    the query's embedding); one INSERT for an event; the model call alone for explanations; the same blend
 *    for mixed traffic. Ceilings and floors are measured for --reference-duration s.
 *
 * Prints progress, then the machine, the date and one table. Cleans up its database, Redis keys, data
 * folders and processes at the end, also when it fails or is interrupted. Asserts nothing.
 *
 * Run: npm run bench [-- --modes embedded,served --duration 12 --warmup 3 --reference-duration 6
 *      --served-items 20000 --served-users 5000 --served-events 200000 --embedded-items 5000
 *      --embedded-users 2000 --embedded-events 50000 --concurrency 16 --replicas 2]
 * Served mode uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) and REDIS_URL
 * (default redis://127.0.0.1:6379/0).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.ts';
import { connectDatabase, type DatabaseHandle } from '../src/db/connect.ts';
import { findNearestItems } from '../src/repositories/candidates.repository.ts';
import { insertNewEvents } from '../src/repositories/events.repository.ts';
import { findTextMatches } from '../src/repositories/search.repository.ts';
import { startOpenAiTestServer } from '../test/helpers/openai-test-server.ts';
import { adminQuery, databaseUrlFor, flushRedisPrefix } from './bench-stores.ts';
import { explainingModel } from './explaining-model.ts';
import { type LoadOptions, type LoadResult, postRequest, runCalls, runLoad, warm } from './load-client.ts';
import { loadSyntheticData } from './load-synthetic-data.ts';
import { describeCpu, rssMb, trackCpu } from './process-usage.ts';
import { percentile, probeEventVisibility } from './event-visibility.ts';
import {
  type ServeProcess,
  serverLogProblems,
  startServeProcess,
  waitForModelInMemory,
} from './serve-process.ts';
import { syntheticItem } from './synthetic-catalog.ts';

const { values: args } = parseArgs({
  options: {
    modes: { type: 'string', default: 'embedded,served' },
    'served-items': { type: 'string', default: '20000' },
    'served-users': { type: 'string', default: '5000' },
    'served-events': { type: 'string', default: '200000' },
    'embedded-items': { type: 'string', default: '5000' },
    'embedded-users': { type: 'string', default: '2000' },
    'embedded-events': { type: 'string', default: '50000' },
    duration: { type: 'string', default: '12' },
    warmup: { type: 'string', default: '3' },
    'reference-duration': { type: 'string', default: '6' },
    concurrency: { type: 'string', default: '16' },
    'explain-concurrency': { type: 'string', default: '8' },
    'llm-latency': { type: 'string', default: '800' },
    'cached-users': { type: 'string', default: '300' },
    'mixed-users': { type: 'string', default: '1000' },
    replicas: { type: 'string', default: '2' },
    workers: { type: 'string', default: '1' },
    'log-level': { type: 'string', default: 'info' },
  },
});
type Mode = 'embedded' | 'served';
const MODES = args.modes.split(',').filter((mode): mode is Mode => mode === 'embedded' || mode === 'served');
const DURATION_MS = Number(args.duration) * 1000;
const WARMUP_MS = Number(args.warmup) * 1000;
const REFERENCE_MS = Number(args['reference-duration']) * 1000;
// Ceilings and floors settle within a second: a short warm-up keeps the suite inside its time budget.
const REFERENCE_WARMUP_MS = Math.min(WARMUP_MS, 1000);
const CONCURRENCY = Number(args.concurrency);
const EXPLAIN_CONCURRENCY = Number(args['explain-concurrency']);
const REPLICAS = Number(args.replicas);
const PAGE_LIMIT = 20;
// The depth each candidate source and each search list asks of the database (recommendations.service.ts
// PER_SOURCE, search.service.ts SEARCH_LIST_DEPTH).
const FLOOR_LIMIT = 100;
// Items and search queries the requests draw from.
const SAMPLE_ITEMS = 2000;
const MIX = { recommendations: 0.7, similar: 0.1, search: 0.1, events: 0.1 } as const;
const ADMIN_KEY = 'bench-suite-admin-key-0123456789-abcdef';
const headers = { authorization: `Bearer ${ADMIN_KEY}` };

const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const suiteStarted = performance.now();
const startedAt = new Date();
const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
const loadAverage = () =>
  os
    .loadavg()
    .map((value) => value.toFixed(1))
    .join(' ');
const log = (line: string) =>
  console.log(`[${((performance.now() - suiteStarted) / 1000).toFixed(0).padStart(4)} s] ${line}`);
log(
  `${os.cpus().length} cores (${cpuModel}), Node ${process.version}; load average ${loadAverage()}; ` +
    `modes ${MODES.join(', ')}`,
);

// ---------------------------------------------------------------------------------------------------------
// Clean-up: whatever was made is undone at the end, on failure, and on SIGINT/SIGTERM.

/** What the current mode made (its database, Redis keys, data folder), undone last made first. */
const cleanups: (() => Promise<unknown>)[] = [];
/** What the whole run made (the model server, the log folder). */
const finalCleanups: (() => Promise<unknown>)[] = [];
const servers = new Set<ServeProcess>();
async function runCleanups(list: (() => Promise<unknown>)[]): Promise<void> {
  while (list.length > 0)
    await list.pop()!().catch((error: unknown) => console.error('clean-up failed:', error));
}
async function cleanUpMode(): Promise<void> {
  await Promise.all([...servers].map((server) => server.stop().catch(() => undefined)));
  servers.clear();
  await runCleanups(cleanups);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void cleanUpMode()
      .then(() => runCleanups(finalCleanups))
      .finally(() => process.exit(130));
  });

// ---------------------------------------------------------------------------------------------------------
// The table.

/** CPU milliseconds a request: the API processes' (the embedded database included) and Postgres's. */
interface CpuPerRequest {
  api: number;
  database: number;
}

interface Row {
  benchmark: string;
  mode: Mode;
  /** API processes serving (replicas); 0 for an import. */
  processes: number;
  perSecond: number;
  unit: string;
  p50?: number | undefined;
  p99?: number | undefined;
  /** Resident memory of each API process at the end of the phase (peak of the importing processes). */
  memoryMb: number[];
  ceiling?: LoadResult | undefined;
  floor?: LoadResult | undefined;
  floorName?: string | undefined;
  cpuMs?: CpuPerRequest | undefined;
  note: string;
}
const rows: Row[] = [];

const rate = (value: number) =>
  value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(value >= 10 ? 0 : 1);
const ms = (value: number | undefined) =>
  value === undefined ? '-' : value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1);
const percent = (part: number, whole: number | undefined) =>
  whole
    ? `${((part / whole) * 100).toLocaleString('en-US', { maximumFractionDigits: part / whole < 0.1 ? 1 : 0 })} %`
    : '-';

function printTable(): void {
  const totalSeconds = (performance.now() - suiteStarted) / 1000;
  console.log(
    `\nMachine: ${cpuModel}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GB RAM, ` +
      `${os.type()} ${os.release()} ${os.arch()}, Node ${process.version}. Started ${startedAt.toISOString()}; ` +
      `total ${Math.floor(totalSeconds / 60)} min ${Math.round(totalSeconds % 60)} s; load average at the end ` +
      `${loadAverage()}.`,
  );
  console.log(
    `Sizes: ${MODES.map(
      (mode) =>
        `${mode} ${Number(args[`${mode}-items`]).toLocaleString('en-US')} items / ` +
        `${Number(args[`${mode}-users`]).toLocaleString('en-US')} users / ` +
        `${Number(args[`${mode}-events`]).toLocaleString('en-US')} events`,
    ).join('; ')}. Concurrency ${CONCURRENCY} (explanations ${EXPLAIN_CONCURRENCY}, model ` +
      `${args['llm-latency']} ms); ${DURATION_MS / 1000} s measured after ${WARMUP_MS / 1000} s of warm-up ` +
      `(ceilings and floors ${REFERENCE_MS / 1000} s); API LOG_LEVEL=${args['log-level']}.\n`,
  );
  console.log(
    '| benchmark | mode | API processes | throughput | p50 ms | p99 ms | CPU ms a request (API + database) | ' +
      'API RSS MB | ceiling /s | of ceiling | floor /s (p50 ms) | of floor | p50 / floor p50 | notes |',
  );
  console.log(
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  );
  for (const row of rows) {
    const { ceiling, floor } = row;
    console.log(
      `| ${row.benchmark} | ${row.mode} | ${row.processes || '-'} | ${rate(row.perSecond)} ${row.unit} | ` +
        `${ms(row.p50)} | ${ms(row.p99)} | ${cpuCell(row.cpuMs)} | ` +
        `${row.memoryMb.map((mb) => Math.round(mb)).join(' + ') || '-'} | ` +
        `${ceiling ? rate(ceiling.perSecond) : '-'} | ${percent(row.perSecond, ceiling?.perSecond)} | ` +
        `${floor ? `${rate(floor.perSecond)} (${ms(floor.p50)})` : '-'} | ${percent(row.perSecond, floor?.perSecond)} | ` +
        `${floor && row.p50 !== undefined ? `${(row.p50 / floor.p50).toFixed(1)}x` : '-'} | ${row.note} |`,
    );
  }
  console.log(
    '\nCeiling: a bare Fastify route answering the same requests with a page captured from the API, from ' +
      'memory. Floor: the bare SQL behind the endpoint on the same database, same concurrency, no HTTP ' +
      '(recommendations and similar: the HNSW query, limit 100; search: the full-text and the HNSW query; ' +
      'events: one INSERT; explanation: the model call alone; mixed: the same blend). CPU ms a request: ' +
      'CPU time of the API processes (embedded: the database thread included) and of the Postgres backends ' +
      'of the bench database over the measured window (from /proc), over the requests answered in it.',
  );
  printRatios();
}

const cpuCell = (cpu: CpuPerRequest | undefined) =>
  cpu ? `${(cpu.api + cpu.database).toFixed(2)} (${cpu.api.toFixed(2)} + ${cpu.database.toFixed(2)})` : '-';

/** The ratios issue 20 sets targets on, from the rows of this run. */
function printRatios(): void {
  const find = (benchmark: string, mode: Mode, processes = 1) =>
    rows.find((row) => row.benchmark === benchmark && row.mode === mode && row.processes === processes);
  const lines: string[] = [];
  for (const mode of MODES) {
    const uncached = find('recommendations, uncached', mode);
    const cached = find('recommendations, cached', mode);
    const similar = find('similar items', mode);
    const search = find('search', mode);
    const cpu = (row: Row | undefined) =>
      row?.cpuMs ? (row.cpuMs.api + row.cpuMs.database).toFixed(2) : '-';
    lines.push(
      `- ${mode}: uncached page ${cpu(uncached)} CPU ms (target 5), p99 ${ms(uncached?.p99)} ms (target 100); ` +
        `uncached throughput ${percent(uncached?.perSecond ?? 0, cached?.perSecond)} of cached (target 20 %); ` +
        `cached ${percent(cached?.perSecond ?? 0, cached?.ceiling?.perSecond)} of the ceiling (target 80 %); ` +
        `similar items ${cpu(similar)} CPU ms (target 3); search p50 ${ms(search?.p50)} ms (target 20), ` +
        `${cpu(search)} CPU ms.`,
    );
  }
  if (MODES.includes('embedded') && MODES.includes('served')) {
    const ratios = ['recommendations, uncached', 'recommendations, cached', 'similar items', 'search']
      .map((benchmark) => {
        const embedded = find(benchmark, 'embedded');
        const served = find(benchmark, 'served');
        return embedded && served
          ? `${benchmark} ${(served.perSecond / embedded.perSecond).toFixed(2)}x`
          : `${benchmark} -`;
      })
      .join(', ');
    lines.push(`- served throughput over embedded (target at most 2x; the sizes differ): ${ratios}.`);
  }
  console.log(`\nTargets of issue 20 in this run:\n${lines.join('\n')}`);
}

// ---------------------------------------------------------------------------------------------------------
// Measuring.

const loadOptions = (bases: readonly string[], concurrency = CONCURRENCY): LoadOptions => ({
  bases,
  concurrency,
  durationMs: DURATION_MS,
  warmupMs: WARMUP_MS,
  pick: 'random',
  headers,
});

/** Warnings and errors of the API logs already shown. */
const reportedProblems = new Set<string>();

/** One HTTP phase against real API processes: the load, their memory at its end, CPU in the log. */
async function measureApi(
  label: string,
  apis: readonly ServeProcess[],
  requests: readonly string[],
  options: Partial<LoadOptions> = {},
  dbName?: string,
): Promise<{ result: LoadResult; memoryMb: number[]; cpuMs: CpuPerRequest }> {
  const cpu = trackCpu(
    () => Object.fromEntries(apis.map((api, index) => [`api${index + 1}`, api.process.pid])),
    dbName,
  );
  const started = new Promise<void>((resolve) => setTimeout(() => void cpu.start().then(resolve), WARMUP_MS));
  const result = await runLoad(
    { ...loadOptions(apis.map((api) => api.base)), ...options },
    shuffled([...requests]),
  );
  await started;
  const shares = await cpu.stop();
  const memoryMb = await Promise.all(apis.map((api) => rssMb(api.process.pid)));
  // Cores over the window times its length, over the requests answered in it: CPU milliseconds a request.
  const perRequest = (cores: number) => (result.perSecond > 0 ? (cores * 1000) / result.perSecond : 0);
  const cpuMs: CpuPerRequest = {
    api: perRequest(Object.values(shares.processes).reduce((sum, cores) => sum + cores, 0)),
    database: perRequest(shares.postgres),
  };
  log(
    `${label}: ${rate(result.perSecond)}/s, p50 ${ms(result.p50)} ms, p99 ${ms(result.p99)} ms; statuses ` +
      `${JSON.stringify(result.statuses)}, x-cache ${JSON.stringify(result.cache)}, errors ${result.errors}; ` +
      `RSS ${memoryMb.map(Math.round).join(' + ')} MB; CPU cores: ${describeCpu(shares)}, load generator ` +
      `${(result.cpuSeconds / result.seconds).toFixed(2)}; CPU ms a request: API ${cpuMs.api.toFixed(2)}, ` +
      `database ${cpuMs.database.toFixed(2)}`,
  );
  for (const api of apis) {
    const problems = (await serverLogProblems(api.logFile)).filter((line) => !reportedProblems.has(line));
    for (const line of problems) reportedProblems.add(line);
    if (problems.length > 0) log(`  ${api.base} logged: ${problems.join('\n    ')}`);
  }
  return { result, memoryMb, cpuMs };
}

const referenceOptions = { durationMs: REFERENCE_MS, warmupMs: REFERENCE_WARMUP_MS };

async function measureCeiling(
  label: string,
  base: string,
  requests: readonly string[],
  concurrency = CONCURRENCY,
): Promise<LoadResult> {
  const result = await runLoad(
    { ...loadOptions([base], concurrency), ...referenceOptions },
    shuffled([...requests]),
  );
  log(`ceiling, ${label}: ${rate(result.perSecond)}/s, p50 ${ms(result.p50)} ms, p99 ${ms(result.p99)} ms`);
  return result;
}

async function measureFloor(
  label: string,
  next: () => () => Promise<unknown>,
  concurrency = CONCURRENCY,
): Promise<LoadResult> {
  const result = await runCalls({ concurrency, ...referenceOptions }, next);
  log(
    `floor, ${label}: ${rate(result.perSecond)}/s, p50 ${ms(result.p50)} ms, p99 ${ms(result.p99)} ms` +
      `${result.errors > 0 ? `, ${result.errors} errors` : ''}`,
  );
  return result;
}

function shuffled<T>(list: T[]): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}
const pickFrom = <T>(list: readonly T[]) => list[Math.floor(Math.random() * list.length)]!;

/** A request kind drawn by MIX's weights. */
function drawKind(): keyof typeof MIX {
  let draw = Math.random();
  for (const [kind, weight] of Object.entries(MIX) as [keyof typeof MIX, number][]) {
    if (draw < weight) return kind;
    draw -= weight;
  }
  return 'recommendations';
}

const hitRate = (result: LoadResult) => {
  const hits = result.cache.hit ?? 0;
  const misses = result.cache.miss ?? 0;
  return hits + misses > 0 ? `x-cache hit ${((hits / (hits + misses)) * 100).toFixed(0)} %` : '';
};
const failures = (result: LoadResult) => {
  const bad = Object.entries(result.statuses).filter(([status]) => !status.startsWith('2'));
  return [
    ...bad.map(([status, count]) => `${count} answered ${status}`),
    ...(result.errors > 0 ? [`${result.errors} errors`] : []),
  ].join(', ');
};
const notes = (...parts: string[]) => parts.filter(Boolean).join('; ');

// ---------------------------------------------------------------------------------------------------------
// The local model behind explanations, shared by both modes.

const llm = await startOpenAiTestServer({ chat: explainingModel, latencyMs: Number(args['llm-latency']) });
finalCleanups.push(() => llm.close());
const chatCalls = () => llm.requests.filter((request) => request.path === '/v1/chat/completions');

// ---------------------------------------------------------------------------------------------------------
// One mode.

interface Sample {
  userIds: string[];
  interests: Float32Array[];
  items: { id: string; vector: Float32Array }[];
  queries: { query: string; vector: Float32Array }[];
}

/** Users, their main interests, a sample of items with embeddings, and search queries taken from them. */
async function sampleData(db: DatabaseHandle['db']): Promise<Sample> {
  const parseVector = (text: string) => Float32Array.from(JSON.parse(text) as number[]);
  const userIds = shuffled(
    (await sql<{ id: string }>`SELECT id FROM users ORDER BY id`.execute(db)).rows.map((row) => row.id),
  );
  const interests = (
    await sql<{ vector: string }>`
      SELECT profile -> 'interests' -> 0 ->> 'vector' AS vector FROM user_profiles
      WHERE jsonb_array_length(profile -> 'interests') > 0 ORDER BY random() LIMIT 2000`.execute(db)
  ).rows.map((row) => parseVector(row.vector));
  const items = (
    await sql<{ id: string; vector: string }>`
      SELECT item_id AS id, embedding::text AS vector FROM item_embeddings
      ORDER BY random() LIMIT ${SAMPLE_ITEMS}`.execute(db)
  ).rows.map((row) => ({ id: row.id, vector: parseVector(row.vector) }));
  // What people type: half a whole title, half two words of a synopsis ("heist island").
  const queries = items.map(({ id, vector }, index) => {
    const item = syntheticItem(Number(id.replace('syn-', '')));
    const words = String(item.description).replace(/\.$/, '').split(' ');
    const at = index % words.length;
    const query = index % 2 === 0 ? String(item.title) : `${words[at]} ${words[(at + 1) % words.length]}`;
    return { query, vector };
  });
  return { userIds, interests, items, queries };
}

async function runMode(mode: Mode, logDir: string): Promise<void> {
  const items = Number(args[`${mode}-items`]);
  const users = Number(args[`${mode}-users`]);
  const events = Number(args[`${mode}-events`]);
  const base = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    // Trainings only when asked (`marquee train`), never behind the benchmark's back.
    MARQUEE_MODEL_REFRESH_MINUTES: '0',
  };
  let storeEnv: Record<string, string>;
  let dbName: string | undefined;
  if (mode === 'served') {
    dbName = `marquee_bench_suite_${process.pid}`;
    const redisPrefix = `marquee-bench:${dbName}:`;
    await adminQuery(adminUrl, `CREATE DATABASE "${dbName}"`);
    const name = dbName;
    cleanups.push(() => adminQuery(adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    cleanups.push(async () => log(`removed ${await flushRedisPrefix(redisUrl, redisPrefix)} Redis keys`));
    storeEnv = {
      DATABASE_URL: databaseUrlFor(adminUrl, dbName),
      REDIS_URL: redisUrl,
      MARQUEE_REDIS_PREFIX: redisPrefix,
    };
  } else {
    const dir = await mkdtemp(join(os.tmpdir(), 'marquee-bench-suite-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    storeEnv = { MARQUEE_DATA_DIR: join(dir, 'db') };
  }

  // 1. Import.
  log(`${mode}: loading ${items} items, ${users} users, ${events} events`);
  const steps = await loadSyntheticData({
    items,
    users,
    events,
    eventOrder: 'user',
    env: { ...base, ...storeEnv, LOG_LEVEL: 'warn' },
    workers: mode === 'served' ? Number(args.workers) : 0,
    dbName,
    log: (line) => log(`${mode}: ${line}`),
  });
  for (const step of steps.filter((entry) => entry.step.startsWith('import'))) {
    rows.push({
      benchmark: step.step,
      mode,
      processes: 0,
      perSecond: step.records / step.seconds,
      unit: step.step === 'import items' ? 'items/s' : 'events/s',
      memoryMb: Object.values(step.peakRssMb),
      note: notes(
        `${step.records.toLocaleString('en-US')} in ${step.seconds.toFixed(1)} s from process start to exit`,
        step.step === 'import items' ? 'local embedder, HNSW build included' : 'user profiles refreshed',
        mode === 'served'
          ? `peak RSS: importing process + ${args.workers} worker`
          : 'peak RSS of the process',
      ),
    });
  }
  const train = steps.find((step) => step.step === 'marquee train');
  if (train) log(`${mode}: ${train.detail}`);

  // The database as the floors see it: the server's session settings, a pool as wide as the load.
  const config = loadConfig({
    ...storeEnv,
    MARQUEE_DATABASE_POOL_SIZE: String(Math.max(CONCURRENCY, EXPLAIN_CONCURRENCY)),
  });
  let sample: Sample;
  {
    const database = await connectDatabase(config.database);
    try {
      sample = await sampleData(database.db);
    } finally {
      await database.close();
    }
  }
  log(`${mode}: ${sample.userIds.length} users, ${sample.items.length} sample items`);

  // Users for each phase, apart so that no phase starts on another's cache.
  const mixedUsers = Math.min(Number(args['mixed-users']), Math.floor(sample.userIds.length / 4));
  const cachedUsers = sample.userIds.slice(0, Number(args['cached-users']));
  const mixedUserSets = [
    sample.userIds.slice(cachedUsers.length, cachedUsers.length + mixedUsers),
    sample.userIds.slice(cachedUsers.length + mixedUsers, cachedUsers.length + 2 * mixedUsers),
  ];
  const explainUsers = sample.userIds.slice(cachedUsers.length + 2 * mixedUsers);
  const half = Math.floor(sample.items.length / 2);
  const mixedItemSets = [sample.items.slice(0, half), sample.items.slice(half)];

  const recommendationPath = (userId: string) =>
    `/v1/users/${encodeURIComponent(userId)}/recommendations?limit=${PAGE_LIMIT}`;
  const similarPath = (itemId: string) =>
    `/v1/items/${encodeURIComponent(itemId)}/similar?limit=${PAGE_LIMIT}`;
  const searchRequest = (query: string) => postRequest('/v1/search', { query, limit: PAGE_LIMIT });
  const eventRequest = (userId: string, itemId: string) =>
    postRequest('/v1/events', { events: [{ userId, itemId, type: 'play' }] });
  const mixedRequests = (userIds: readonly string[], sampleItems: Sample['items']) =>
    Array.from({ length: 10_000 }, () => {
      const kind = drawKind();
      if (kind === 'similar') return similarPath(pickFrom(sampleItems).id);
      if (kind === 'search') return searchRequest(pickFrom(sample.queries).query);
      if (kind === 'events') return eventRequest(pickFrom(userIds), pickFrom(sample.items).id);
      return recommendationPath(pickFrom(userIds));
    });

  const apiEnv = {
    ...base,
    ...storeEnv,
    LOG_LEVEL: args['log-level'],
    MARQUEE_ADMIN_KEY: ADMIN_KEY,
    // The load sends far more than a key's limit a minute; the limiter still counts (in Redis when served).
    MARQUEE_RATE_LIMIT_ADMIN: '10000000',
    OPENAI_BASE_URL: llm.url,
    OPENAI_API_KEY: 'bench',
    MARQUEE_LLM_MAX_RETRIES: '0',
    MARQUEE_LLM_DAILY_TOKENS_PER_KEY: '0',
    // Import jobs and trainings stay out of the API processes.
    ...(mode === 'served' && { MARQUEE_API_JOB_CONCURRENCY: '0' }),
  };
  let serverCount = 0;
  const startApi = async (env: Record<string, string> = {}) => {
    const server = await startServeProcess(
      { ...apiEnv, ...env },
      join(logDir, `${mode}-${++serverCount}.log`),
    );
    servers.add(server);
    // Measured once it holds its model in memory: the load is not what a row measures.
    const { waitedMs } = await waitForModelInMemory(server.base, headers);
    log(`${mode}: API process ${serverCount} held its model in memory after ${waitedMs} ms`);
    return server;
  };
  const stopApi = async (server: ServeProcess) => {
    await server.stop();
    servers.delete(server);
  };
  const fetchText = async (api: ServeProcess, request: string) => {
    const spec = request.startsWith('{')
      ? (JSON.parse(request) as { method: string; path: string; body: unknown })
      : { method: 'GET', path: request, body: undefined };
    const response = await fetch(`${api.base}${spec.path}`, {
      method: spec.method,
      headers: { ...headers, ...(spec.body !== undefined && { 'content-type': 'application/json' }) },
      body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${spec.method} ${spec.path} answered ${response.status}: ${text}`);
    return text;
  };

  // 2. The API, pages computed on every request.
  const uncachedRequests = sample.userIds.map(recommendationPath);
  const similarRequests = sample.items.map((item) => similarPath(item.id));
  const searchRequests = sample.queries.map((entry) => searchRequest(entry.query));
  const explainRequests = explainUsers.slice(1).map((userId) => `${recommendationPath(userId)}&explain=true`);
  const payloads: Record<'recommendations' | 'similar' | 'search' | 'explained' | 'events', string> = {
    recommendations: '',
    similar: '',
    search: '',
    explained: '',
    events: '',
  };
  const measuredApi: Partial<
    Record<
      'uncached' | 'cached' | 'cachedN' | 'similar' | 'search' | 'explain' | 'mixed1' | 'mixedN',
      { result: LoadResult; memoryMb: number[]; cpuMs: CpuPerRequest; note: string }
    >
  > = {};
  {
    const api = await startApi({
      MARQUEE_RECOMMENDATION_CACHE_SECONDS: '0',
      MARQUEE_SIMILAR_CACHE_SECONDS: '0',
    });
    payloads.recommendations = await fetchText(api, uncachedRequests[0]!);
    payloads.similar = await fetchText(api, similarRequests[0]!);
    payloads.search = await fetchText(api, searchRequests[0]!);
    payloads.explained = await fetchText(api, `${recommendationPath(explainUsers[0]!)}&explain=true`);
    payloads.events = await fetchText(api, eventRequest(sample.userIds[0]!, sample.items[0]!.id));

    measuredApi.uncached = {
      ...(await measureApi(`${mode} recommendations, uncached`, [api], uncachedRequests, {}, dbName)),
      note: 'page cache off, a random user of all',
    };
    measuredApi.similar = {
      ...(await measureApi(`${mode} similar items`, [api], similarRequests, {}, dbName)),
      note: `page cache off, a random item of ${similarRequests.length.toLocaleString('en-US')}`,
    };
    measuredApi.search = {
      ...(await measureApi(`${mode} search`, [api], searchRequests, {}, dbName)),
      note: `a title or two synopsis words, ${searchRequests.length.toLocaleString('en-US')} queries`,
    };
    const callsBefore = chatCalls().length;
    const explain = await measureApi(
      `${mode} explanation`,
      [api],
      explainRequests,
      { concurrency: EXPLAIN_CONCURRENCY, pick: 'cycle' },
      dbName,
    );
    const calls = chatCalls().length - callsBefore;
    measuredApi.explain = {
      ...explain,
      note:
        `explain=true, model ${args['llm-latency']} ms, concurrency ${EXPLAIN_CONCURRENCY}; each page a new user; ` +
        `${calls} model calls in the phase (warm-up included)`,
    };
    await stopApi(api);
  }

  // 3. The API with its caches: cached pages and mixed traffic, on one process, then on several.
  {
    const api = await startApi();
    const warmed = await warm(api.base, cachedUsers.map(recommendationPath), headers, CONCURRENCY);
    log(`${mode}: warmed ${cachedUsers.length} pages: ${JSON.stringify(warmed)}`);
    measuredApi.cached = {
      ...(await measureApi(
        `${mode} recommendations, cached`,
        [api],
        cachedUsers.map(recommendationPath),
        {},
        dbName,
      )),
      note: `${cachedUsers.length} warmed users`,
    };
    const mixedNote = (userCount: number) =>
      `70 % recommendations, 10 % similar, 10 % search, 10 % events; ${userCount.toLocaleString('en-US')} users, caches cold at the start`;
    // Event-to-visible latency, probed from outside while the mixed traffic runs (issue 18).
    const probing = new AbortController();
    const [mixed1, visibility] = await Promise.all([
      measureApi(
        `${mode} mixed, 1 process`,
        [api],
        mixedRequests(mixedUserSets[0]!, mixedItemSets[0]!),
        {},
        dbName,
      ).finally(() => probing.abort()),
      probeEventVisibility({
        base: api.base,
        headers,
        userIds: explainUsers.length > 0 ? explainUsers : cachedUsers,
        probes: 1_000,
        signal: probing.signal,
      }),
    ]);
    measuredApi.mixed1 = { ...mixed1, note: mixedNote(mixedUserSets[0]!.length) };
    for (const [what, values] of [
      ['trending rank', visibility.trendingMs],
      ["that user's next page", visibility.pageMs],
    ] as const)
      rows.push({
        benchmark: `event to visible: ${what}`,
        mode,
        processes: 1,
        perSecond: values.length / (DURATION_MS / 1000 + WARMUP_MS / 1000),
        unit: 'probes/s',
        p50: percentile(values, 50),
        p99: percentile(values, 99),
        memoryMb: [],
        note:
          `${values.length} probes during the mixed run, ${visibility.missed} not visible within 10 s; from the ` +
          'POST /v1/events answer to the first read that shows it',
      });
    if (mode === 'served' && REPLICAS > 1) {
      // The same two runs on several API processes: the cached pages are those warmed above (the cache is
      // shared in Redis); the mixed traffic has users and items of its own, so its caches start cold too.
      const replicas = [api];
      for (let n = 1; n < REPLICAS; n++) replicas.push(await startApi());
      const growth = (single: LoadResult, several: LoadResult) =>
        `${(several.perSecond / single.perSecond).toFixed(2)}x the 1-process throughput`;
      const cachedN = await measureApi(
        `${mode} recommendations, cached, ${REPLICAS} processes`,
        replicas,
        cachedUsers.map(recommendationPath),
        {},
        dbName,
      );
      measuredApi.cachedN = {
        ...cachedN,
        note: `the same warmed pages; ${growth(measuredApi.cached.result, cachedN.result)}`,
      };
      const mixedN = await measureApi(
        `${mode} mixed, ${REPLICAS} processes`,
        replicas,
        mixedRequests(mixedUserSets[1]!, mixedItemSets[1]!),
        {},
        dbName,
      );
      measuredApi.mixedN = {
        ...mixedN,
        note:
          `${mixedNote(mixedUserSets[1]!.length)}; other users and items than the 1-process run; ` +
          growth(measuredApi.mixed1.result, mixedN.result),
      };
      for (const replica of replicas.slice(1)) await stopApi(replica);
    }
    await stopApi(api);
  }

  // 4. Ceilings: the captured pages from memory, on bare Fastify routes.
  const ceilings: Partial<
    Record<'recommendations' | 'similar' | 'search' | 'explain' | 'mixed', LoadResult>
  > = {};
  {
    const page = (text: string) => JSON.parse(text) as unknown;
    const [recommendations, explained, similar, search, posted] = [
      page(payloads.recommendations),
      page(payloads.explained),
      page(payloads.similar),
      page(payloads.search),
      page(payloads.events),
    ];
    const app = Fastify({ logger: false });
    app.get<{ Querystring: { explain?: string } }>(
      '/v1/users/:userId/recommendations',
      async (request, reply) => {
        reply.header('x-cache', 'hit');
        return request.query.explain === 'true' ? explained : recommendations;
      },
    );
    app.get('/v1/items/:itemId/similar', async (_request, reply) => {
      reply.header('x-cache', 'hit');
      return similar;
    });
    app.post('/v1/search', async () => search);
    app.post('/v1/events', async () => posted);
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const address = app.server.address();
      if (!address || typeof address === 'string') throw new Error('not listening');
      const ceilingBase = `http://127.0.0.1:${address.port}`;
      ceilings.recommendations = await measureCeiling(
        `${mode} recommendations`,
        ceilingBase,
        uncachedRequests,
      );
      ceilings.similar = await measureCeiling(`${mode} similar`, ceilingBase, similarRequests);
      ceilings.search = await measureCeiling(`${mode} search`, ceilingBase, searchRequests);
      ceilings.explain = await measureCeiling(
        `${mode} explanation`,
        ceilingBase,
        explainRequests,
        EXPLAIN_CONCURRENCY,
      );
      ceilings.mixed = await measureCeiling(
        `${mode} mixed`,
        ceilingBase,
        mixedRequests(mixedUserSets[0]!, mixedItemSets[0]!),
      );
    } finally {
      await app.close();
    }
  }

  // 5. Floors: the bare SQL on the same database (and the bare model call).
  const floors: Partial<Record<'recommendations' | 'similar' | 'search' | 'explain' | 'mixed', LoadResult>> =
    {};
  {
    const database = await connectDatabase(config.database);
    const { db } = database;
    try {
      const nearestForUser = () => {
        const interest = pickFrom(sample.interests);
        return () => findNearestItems(db, interest, { limit: FLOOR_LIMIT, filters: {} });
      };
      const nearestForItem = () => {
        const item = pickFrom(sample.items);
        return () =>
          findNearestItems(db, item.vector, { limit: FLOOR_LIMIT, filters: {}, excludeIds: [item.id] });
      };
      const searchQueries = () => {
        const { query, vector } = pickFrom(sample.queries);
        return () =>
          Promise.all([
            findTextMatches(db, query, { limit: FLOOR_LIMIT, filters: {} }),
            findNearestItems(db, vector, { limit: FLOOR_LIMIT, filters: {} }),
          ]);
      };
      let inserted = 0;
      const insertEvent = () => {
        const row = {
          dedup_key: `bench-floor:${process.pid}:${inserted++}`,
          client_id: null,
          user_id: pickFrom(sample.userIds),
          item_id: pickFrom(sample.items).id,
          type: 'play',
          value: null,
          occurred_at: new Date(),
          recommendation_id: null,
          context: null,
        };
        return () => insertNewEvents(db, [row]);
      };
      floors.recommendations = await measureFloor(`${mode} recommendations (HNSW)`, nearestForUser);
      floors.similar = await measureFloor(`${mode} similar (HNSW)`, nearestForItem);
      floors.search = await measureFloor(`${mode} search (full text + HNSW)`, searchQueries);
      floors.mixed = await measureFloor(`${mode} mixed`, () => {
        const kind = drawKind();
        if (kind === 'similar') return nearestForItem();
        if (kind === 'search') return searchQueries();
        if (kind === 'events') return insertEvent();
        return nearestForUser();
      });
    } finally {
      await database.close();
    }
    // The model alone: the prompt of a real page, sent straight to the model server.
    const prompt = chatCalls().at(-1)?.rawBody;
    if (prompt) {
      floors.explain = await measureFloor(
        `${mode} explanation (model call)`,
        () => async () => {
          const response = await fetch(`${llm.url}/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
            body: prompt,
          });
          await response.text();
          if (!response.ok) throw new Error(`model answered ${response.status}`);
        },
        EXPLAIN_CONCURRENCY,
      );
    }
  }

  // The rows, in the table's order.
  const apiRow = (
    benchmark: string,
    key: keyof typeof measuredApi,
    reference: keyof typeof ceilings,
    floorName: string,
  ) => {
    const entry = measuredApi[key];
    if (!entry) return;
    rows.push({
      benchmark,
      mode,
      processes: entry.memoryMb.length,
      perSecond: entry.result.perSecond,
      unit: 'req/s',
      p50: entry.result.p50,
      p99: entry.result.p99,
      memoryMb: entry.memoryMb,
      ceiling: ceilings[reference],
      floor: floors[reference],
      floorName,
      cpuMs: entry.cpuMs,
      note: notes(entry.note, hitRate(entry.result), failures(entry.result)),
    });
  };
  apiRow('recommendations, uncached', 'uncached', 'recommendations', 'HNSW query');
  apiRow('recommendations, cached', 'cached', 'recommendations', 'HNSW query');
  apiRow('recommendations, cached', 'cachedN', 'recommendations', 'HNSW query');
  apiRow('similar items', 'similar', 'similar', 'HNSW query');
  apiRow('search', 'search', 'search', 'full text + HNSW');
  apiRow('explanation', 'explain', 'explain', 'model call');
  apiRow('mixed traffic', 'mixed1', 'mixed', 'blend');
  apiRow('mixed traffic', 'mixedN', 'mixed', 'blend');
}

// ---------------------------------------------------------------------------------------------------------

const logDir = await mkdtemp(join(os.tmpdir(), 'marquee-bench-suite-logs-'));
finalCleanups.push(() => rm(logDir, { recursive: true, force: true }));
let failed = false;
try {
  for (const mode of MODES) {
    try {
      await runMode(mode, logDir);
    } finally {
      // Each mode's processes, database, keys and folders go as soon as it is done.
      await cleanUpMode();
    }
  }
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await runCleanups(finalCleanups);
  if (rows.length > 0) printTable();
  if (failed) process.exitCode = 1;
}
