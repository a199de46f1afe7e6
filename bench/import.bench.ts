/**
 * Bulk import throughput and memory, end to end: each run is a real `marquee import items` process (and, in
 * served mode, `marquee worker` processes beside it) on a fresh database, timed from spawn to exit, with
 * the peak resident memory of every process sampled from /proc; "seconds (import)" is the import's own
 * duration (created to completed, index build included), without the process start, and "seconds
 * (batches)" the part of it until the last batch was written and embedded (timings.batchesFinishedAt),
 * without the end (the HNSW build after a load into an empty catalog, statistics). Scenarios:
 *
 * - netflix: ../shared/data/netflix/netflix_titles.csv with mappings/netflix.json (8,807 titles), then the
 *   same file again (every record unchanged, nothing embedded);
 * - synthetic: 100,000 generated items (NDJSON written to a temporary file first);
 * - events: a catalog of 5,000 generated items, then 200,000 generated events of 5,000 users
 *   (bench/synthetic-events.ts, ordered by user as the README advises; `--events-order time` for the worst
 *   case, every batch touching most users' profiles) through `marquee import events`: the event ingest
 *   rate, the live item statistics included;
 * - gigabyte: 1 GB of NDJSON generated on the fly and piped to standard input (records padded to 8 KB);
 * - openai: 20,000 generated items embedded through the local OpenAI-compatible test server with 200 ms of
 *   latency per request, 50 inputs a request, at MARQUEE_EMBEDDING_CONCURRENCY 1 and 8 (requests in flight
 *   per process), then the same texts through the embedder alone.
 *
 * Served mode needs DATABASE_URL (Postgres with pgvector; a database is created and dropped per run) and
 * REDIS_URL. Prints a table and asserts nothing.
 *
 * Run: npm run bench:import [-- --scenarios netflix,synthetic,events,gigabyte,openai --modes embedded,served
 *      --import-mode upsert|replace|sync (the synthetic scenario)
 *      --events 200000 --events-items 5000 --events-users 5000 --events-order user|time
 *      --synthetic-items 100000 --gigabyte-mb 1024 --openai-items 20000 --openai-concurrency 1,8 --workers 1
 *      --node-options="--max-old-space-size=256 ..." --set MARQUEE_WORKER_CONCURRENCY=4]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startOpenAiTestServer } from '../test/helpers/openai-test-server.ts';
import { CLI } from '../test/helpers/spawn-server.ts';
import { loadConfig } from '../src/config.ts';
import { createEmbedder } from '../src/embedding/create-embedder.ts';
import { embeddableFromInput, itemEmbeddingText } from '../src/embedding/item-text.ts';
import { itemInputSchema } from '../src/schemas/items.schema.ts';
import { syntheticItem, syntheticNdjson } from './synthetic-catalog.ts';
import { writeSyntheticEvents } from './synthetic-events.ts';

const NETFLIX = new URL('../../shared/data/netflix/netflix_titles.csv', import.meta.url).pathname;
const NETFLIX_MAPPING = new URL('../mappings/netflix.json', import.meta.url).pathname;

const { values: args } = parseArgs({
  options: {
    scenarios: { type: 'string', default: 'netflix,synthetic,events,gigabyte,openai' },
    modes: { type: 'string', default: 'embedded,served' },
    'synthetic-items': { type: 'string', default: '100000' },
    'events-items': { type: 'string', default: '5000' },
    'events-users': { type: 'string', default: '5000' },
    events: { type: 'string', default: '200000' },
    'events-order': { type: 'string', default: 'user' },
    // upsert (the default: fields merged into what is stored), replace or sync.
    'import-mode': { type: 'string', default: 'upsert' },
    'gigabyte-mb': { type: 'string', default: '1024' },
    'openai-items': { type: 'string', default: '20000' },
    'openai-concurrency': { type: 'string', default: '1,8' },
    workers: { type: 'string', default: '1' },
    // NODE_OPTIONS of the import and worker processes, e.g. the memory settings docs/DEPLOYMENT.md
    // recommends for them: --max-old-space-size=256 --max-semi-space-size=4
    'node-options': { type: 'string', default: '' },
    // Settings for every import and worker process, e.g. --set MARQUEE_WORKER_CONCURRENCY=4 (repeatable).
    set: { type: 'string', multiple: true, default: [] },
  },
});
const settings = Object.fromEntries(
  args.set.map((setting) => {
    const equals = setting.indexOf('=');
    if (equals < 1) throw new Error(`--set wants NAME=VALUE, got ${setting}`);
    return [setting.slice(0, equals), setting.slice(equals + 1)];
  }),
);
const openAiConcurrencies = args['openai-concurrency'].split(',').map(Number);
const scenarios = new Set(args.scenarios.split(','));
const databaseUrl = process.env.DATABASE_URL;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const modes = args.modes.split(',').filter((mode) => {
  if (mode === 'served' && !databaseUrl) {
    console.log('served mode skipped: set DATABASE_URL (Postgres with pgvector) and REDIS_URL');
    return false;
  }
  return mode === 'embedded' || mode === 'served';
}) as ('embedded' | 'served')[];

interface RunResult {
  scenario: string;
  mode: string;
  records: number;
  seconds: number;
  status: {
    counts: Record<string, number>;
    status: string;
    timings: { durationMs: number | null; createdAt: string; batchesFinishedAt: string | null };
  };
  peakRssMb: Record<string, number>;
  note?: string;
}
const results: RunResult[] = [];
const stageRates: { concurrency: number; seconds: number; rate: number }[] = [];
const DEFAULT_FIELDS = loadConfig({}).embedding.fields;

/** Peak VmRSS of a process, sampled every 100 ms until it exits. */
function watchRss(pid: number | undefined): () => number {
  let peak = 0;
  const timer = setInterval(() => {
    if (pid === undefined) return;
    readFile(`/proc/${pid}/status`, 'utf8')
      .then((text) => {
        const match = /VmRSS:\s+(\d+) kB/.exec(text);
        if (match) peak = Math.max(peak, Number(match[1]) / 1024);
      })
      .catch(() => undefined);
  }, 100);
  return () => {
    clearInterval(timer);
    return Math.round(peak);
  };
}

interface Target {
  env: Record<string, string>;
  cleanup: () => Promise<void>;
}

async function freshTarget(mode: 'embedded' | 'served'): Promise<Target> {
  const base = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    LOG_LEVEL: 'warn',
    ...(args['node-options'] ? { NODE_OPTIONS: args['node-options'] } : {}),
    ...settings,
  };
  if (mode === 'embedded') {
    const dir = await mkdtemp(join(os.tmpdir(), 'marquee-bench-import-'));
    return {
      env: { ...base, MARQUEE_DATA_DIR: dir },
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  }
  const name = `marquee_bench_import_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(databaseUrl ?? '');
  url.pathname = `/${name}`;
  return {
    env: {
      ...base,
      DATABASE_URL: url.toString(),
      REDIS_URL: redisUrl,
      MARQUEE_REDIS_PREFIX: `marquee-bench:${name}:`,
    },
    cleanup: async () => {
      const dropper = new pg.Client({ connectionString: databaseUrl });
      await dropper.connect();
      await dropper.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await dropper.end();
    },
  };
}

/**
 * Runs `marquee import items <file>` (`kind` events: `import events`), with workers in served mode; returns
 * its final status and timings.
 */
async function runImport(
  target: Target,
  file: string,
  extraArgs: string[],
  options: {
    stdin?: NodeJS.ReadableStream;
    env?: Record<string, string>;
    workers: number;
    kind?: 'items' | 'events';
  },
): Promise<Omit<RunResult, 'scenario' | 'mode' | 'records' | 'note'>> {
  const env = { ...target.env, ...options.env };
  const workers = env.DATABASE_URL
    ? Array.from({ length: options.workers }, () =>
        spawn(process.execPath, [CLI, 'worker'], { env, stdio: ['ignore', 'ignore', 'inherit'] }),
      )
    : [];
  const workerPeaks = workers.map((worker) => watchRss(worker.pid));
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'import', options.kind ?? 'items', file, ...extraArgs], {
    env,
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  const importPeak = watchRss(child.pid);
  if (options.stdin && child.stdin) void pipeline(options.stdin, child.stdin).catch(() => undefined);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const seconds = (performance.now() - started) / 1000;
  const peakRssMb: Record<string, number> = { import: importPeak() };
  workerPeaks.forEach((stop, index) => (peakRssMb[`worker${index + 1}`] = stop()));
  for (const worker of workers) worker.kill('SIGTERM');
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.on('exit', resolve))));
  if (code !== 0) throw new Error(`marquee import exited with ${code}:\n${stderr.slice(-2_000)}`);
  const status = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as RunResult['status'];
  return { seconds, status, peakRssMb };
}

function record(scenario: string, mode: string, run: Awaited<ReturnType<typeof runImport>>, note?: string) {
  const result: RunResult = { scenario, mode, records: run.status.counts.received ?? 0, ...run, note };
  results.push(result);
  const rate = result.records / result.seconds;
  console.log(
    `${scenario} (${mode}): ${result.records} records in ${result.seconds.toFixed(1)} s = ${rate.toFixed(0)}/s; ` +
      `counts ${JSON.stringify(run.status.counts)}; peak RSS ${JSON.stringify(run.peakRssMb)} MB${note ? `; ${note}` : ''}`,
  );
}

const workers = Number(args.workers);
for (const mode of modes) {
  if (scenarios.has('netflix')) {
    if (!existsSync(NETFLIX)) console.log(`netflix skipped: ${NETFLIX} is absent`);
    else {
      const target = await freshTarget(mode);
      try {
        const mapping = ['--mapping', NETFLIX_MAPPING];
        record('netflix', mode, await runImport(target, NETFLIX, mapping, { workers }));
        record('netflix again', mode, await runImport(target, NETFLIX, mapping, { workers }));
      } finally {
        await target.cleanup();
      }
    }
  }
  if (scenarios.has('synthetic')) {
    const count = Number(args['synthetic-items']);
    const dir = await mkdtemp(join(os.tmpdir(), 'marquee-bench-synthetic-'));
    const file = join(dir, 'items.ndjson');
    await pipeline(syntheticNdjson({ count }), createWriteStream(file));
    const target = await freshTarget(mode);
    try {
      const modeArgs = ['--mode', args['import-mode']];
      record(
        `synthetic ${count} (${args['import-mode']})`,
        mode,
        await runImport(target, file, modeArgs, { workers }),
      );
    } finally {
      await target.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  }
  if (scenarios.has('events')) {
    const [items, users, events] = [args['events-items'], args['events-users'], args.events].map(Number);
    const dir = await mkdtemp(join(os.tmpdir(), 'marquee-bench-events-'));
    const itemsFile = join(dir, 'items.ndjson');
    const eventsFile = join(dir, 'events.ndjson');
    await pipeline(syntheticNdjson({ count: items! }), createWriteStream(itemsFile));
    const order = args['events-order'] === 'time' ? 'time' : 'user';
    await writeSyntheticEvents(eventsFile, { items: items!, users: users!, events: events!, order });
    const target = await freshTarget(mode);
    try {
      await runImport(target, itemsFile, [], { workers });
      record(
        `events ${events} (${users} users, ${items} items)`,
        mode,
        await runImport(target, eventsFile, [], { workers, kind: 'events' }),
        `ordered by ${order}`,
      );
    } finally {
      await target.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  }
  if (scenarios.has('gigabyte')) {
    const megabytes = Number(args['gigabyte-mb']);
    const target = await freshTarget(mode);
    try {
      const stdin = syntheticNdjson({ bytes: megabytes * 1024 * 1024, padBytes: 8_192 });
      record(
        `${megabytes} MB NDJSON`,
        mode,
        await runImport(target, '-', ['--format', 'ndjson'], { stdin, workers }),
        'records padded to 8 KB, piped through stdin',
      );
    } finally {
      await target.cleanup();
    }
  }
  if (scenarios.has('openai')) {
    const count = Number(args['openai-items']);
    const server = await startOpenAiTestServer({ latencyMs: 200 });
    const dir = await mkdtemp(join(os.tmpdir(), 'marquee-bench-openai-'));
    const file = join(dir, 'items.ndjson');
    await pipeline(syntheticNdjson({ count }), createWriteStream(file));
    try {
      for (const concurrency of openAiConcurrencies) {
        const target = await freshTarget(mode);
        try {
          const env = {
            MARQUEE_EMBEDDER: 'openai',
            OPENAI_BASE_URL: server.url,
            MARQUEE_EMBEDDING_DIMENSION: '256',
            MARQUEE_EMBEDDING_BATCH_SIZE: '50',
            MARQUEE_EMBEDDING_CONCURRENCY: String(concurrency),
          };
          server.reset();
          const run = await runImport(target, file, [], { env, workers });
          record(
            `openai c=${concurrency}`,
            mode,
            run,
            `${server.requests.length} requests of 200 ms, peak ${server.peakConcurrency} in flight`,
          );
        } finally {
          await target.cleanup();
        }
      }
      // The embedding stage alone, same texts and settings: what the concurrency buys before the database
      // becomes the bound.
      const texts = Array.from({ length: count }, (_, index) =>
        itemEmbeddingText(
          embeddableFromInput(itemInputSchema.parse({ ...syntheticItem(index), id: undefined })),
          DEFAULT_FIELDS,
        ),
      );
      for (const concurrency of openAiConcurrencies) {
        const embedder = await createEmbedder(
          loadConfig({
            MARQUEE_EMBEDDER: 'openai',
            OPENAI_BASE_URL: server.url,
            MARQUEE_EMBEDDING_DIMENSION: '256',
            MARQUEE_EMBEDDING_BATCH_SIZE: '50',
            MARQUEE_EMBEDDING_CONCURRENCY: String(concurrency),
          }),
        );
        const started = performance.now();
        await embedder.embed(texts);
        const seconds = (performance.now() - started) / 1000;
        console.log(
          `openai embedding stage alone, c=${concurrency}: ${count} texts in ${seconds.toFixed(1)} s = ${Math.round(count / seconds)}/s`,
        );
        stageRates.push({ concurrency, seconds, rate: count / seconds });
      }
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  }
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(
  `\n${os.cpus().length} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}, ` +
    `served mode with ${workers} worker process(es) beside the importing process` +
    (args['node-options'] ? `, NODE_OPTIONS="${args['node-options']}"` : '') +
    '\n',
);
console.log(
  '| scenario | mode | records | seconds (process) | records/s | seconds (import) | records/s | seconds (batches) | records/s | inserted | unchanged | embedded | peak RSS MB |',
);
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
const rate = (records: number, seconds: number | undefined) =>
  seconds ? String(Math.round(records / seconds)) : '-';
for (const result of results) {
  const counts = result.status.counts;
  const { durationMs, createdAt, batchesFinishedAt } = result.status.timings;
  const importSeconds = durationMs === null ? undefined : durationMs / 1000;
  // Created to the last batch written and embedded: the import without its end (index build, statistics).
  const batchSeconds =
    batchesFinishedAt === null ? undefined : (Date.parse(batchesFinishedAt) - Date.parse(createdAt)) / 1000;
  console.log(
    `| ${result.scenario} | ${result.mode} | ${result.records} | ${result.seconds.toFixed(1)} | ` +
      `${Math.round(result.records / result.seconds)} | ${(importSeconds ?? Number.NaN).toFixed(1)} | ` +
      `${rate(result.records, importSeconds)} | ${(batchSeconds ?? Number.NaN).toFixed(1)} | ` +
      `${rate(result.records, batchSeconds)} | ` +
      `${counts.inserted} | ${counts.unchanged} | ${counts.embedded} | ` +
      `${Object.entries(result.peakRssMb)
        .map(([name, value]) => `${name} ${value}`)
        .join(', ')} |`,
  );
}
for (const stage of stageRates)
  console.log(
    `| openai embedding stage alone, c=${stage.concurrency} | - | ${Number(args['openai-items'])} | ${stage.seconds.toFixed(1)} | ${Math.round(stage.rate)} | | | | | | | | |`,
  );
