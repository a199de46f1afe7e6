/**
 * Rate limits under abuse: one API key hammers the API far past its limit while a second key sends a
 * steady trickle. Prints what each saw: the abuser's 200s and 429s, and the polite key's latency with and
 * without the abuser running, so one can see that another key's requests keep their normal latency.
 *
 * Run: npm run bench:rate-limits   (node bench/rate-limits.bench.ts). Embedded database, memory store;
 * it prints figures and asserts nothing.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import os from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app.ts';
import { createMemoryCache } from '../src/cache/memory-cache.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase, createLogger } from '../src/server.ts';

const ADMIN_KEY = 'bench-admin-key-0123456789-abcdefghijk';
const READ_LIMIT_PER_MINUTE = 600;
const PHASE_MS = 10_000;
const ABUSER_CONCURRENCY = 16;
const POLITE_INTERVAL_MS = 50;
// The paced abuser: ten times its limit, at an even rate.
const PACED_ABUSER_PER_SECOND = (10 * READ_LIMIT_PER_MINUTE) / 60;

const dataDir = await mkdtemp(join(os.tmpdir(), 'marquee-bench-ratelimit-'));
const config = loadConfig({
  MARQUEE_DATA_DIR: join(dataDir, 'db'),
  LOG_LEVEL: 'warn',
  MARQUEE_ADMIN_KEY: ADMIN_KEY,
  MARQUEE_RATE_LIMIT_READ: String(READ_LIMIT_PER_MINUTE),
});
const logger = createLogger(config);
const app = await buildApp({
  config,
  database: await openDatabase(config, logger),
  cache: createMemoryCache(),
  logger,
});
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
if (!address || typeof address === 'string') throw new Error('not listening');
const base = `http://127.0.0.1:${address.port}`;

async function call(path: string, key: string, init: RequestInit = {}) {
  const started = performance.now();
  const response = await fetch(`${base}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, ...init.headers },
  });
  await response.arrayBuffer();
  return { status: response.status, ms: performance.now() - started };
}
async function createKey(name: string) {
  const response = await fetch(`${base}/v1/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, scopes: ['read'] }),
  });
  return ((await response.json()) as { key: string }).key;
}
for (let index = 0; index < 20; index++) {
  await call(`/v1/items/item-${index}`, ADMIN_KEY, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title: `Title ${index}`, genres: ['drama'] }),
  });
}
const abuserKey = await createKey('abuser');
const pacedAbuserKey = await createKey('paced abuser');
const politeKey = await createKey('polite');

async function politeClient(until: number) {
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  while (Date.now() < until) {
    const { status, ms } = await call('/v1/items?limit=20', politeKey);
    latencies.push(ms);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    await new Promise((resolve) => setTimeout(resolve, POLITE_INTERVAL_MS));
  }
  return { latencies, statuses };
}
/** The abusive client runs on its own thread, so its request loop does not share the server's event loop. */
async function abuser(until: number, key: string, ratePerSecond?: number): Promise<Map<number, number>> {
  const worker = new Worker(new URL('./rate-limits.abuser.ts', import.meta.url), {
    workerData: { base, key, until, concurrency: ABUSER_CONCURRENCY, ratePerSecond },
  });
  const [counts] = (await once(worker, 'message')) as [[number, number][]];
  await worker.terminate();
  return new Map(counts);
}
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};
const describe = (statuses: Map<number, number>) =>
  [...statuses.entries()]
    .sort(([a], [b]) => a - b)
    .map(([status, count]) => `${status}: ${count}`)
    .join(', ');

console.log(`phase 1: polite key alone for ${PHASE_MS / 1000} s`);
const alone = await politeClient(Date.now() + PHASE_MS);
console.log(
  `phase 2: polite key while another key sends ${ABUSER_CONCURRENCY} requests at a time (limit ${READ_LIMIT_PER_MINUTE}/min)`,
);
const end = Date.now() + PHASE_MS;
const [abused, withAbuser] = await Promise.all([abuser(end, abuserKey), politeClient(end)]);
console.log(
  `phase 3: polite key while a third key sends ${PACED_ABUSER_PER_SECOND} requests a second (10 times its limit)`,
);
const pacedEnd = Date.now() + PHASE_MS;
const [pacedAbused, withPacedAbuser] = await Promise.all([
  abuser(pacedEnd, pacedAbuserKey, PACED_ABUSER_PER_SECOND),
  politeClient(pacedEnd),
]);

const rows = [
  [
    'polite key, alone',
    describe(alone.statuses),
    percentile(alone.latencies, 50),
    percentile(alone.latencies, 99),
  ],
  [
    'polite key, during abuse',
    describe(withAbuser.statuses),
    percentile(withAbuser.latencies, 50),
    percentile(withAbuser.latencies, 99),
  ],
  [
    'polite key, during paced abuse',
    describe(withPacedAbuser.statuses),
    percentile(withPacedAbuser.latencies, 50),
    percentile(withPacedAbuser.latencies, 99),
  ],
];
console.log('\n| client | answers | p50 (ms) | p99 (ms) |\n| --- | --- | ---: | ---: |');
for (const [name, answers, p50, p99] of rows)
  console.log(`| ${name} | ${answers} | ${Number(p50).toFixed(1)} | ${Number(p99).toFixed(1)} |`);
const total = [...abused.values()].reduce((sum, count) => sum + count, 0);
console.log(
  `| abusive key (${ABUSER_CONCURRENCY} concurrent, ${PHASE_MS / 1000} s) | ${describe(abused)} (${total} in all) | - | - |`,
);
console.log(
  `| paced abusive key (${PACED_ABUSER_PER_SECOND}/s, ${PHASE_MS / 1000} s) | ${describe(pacedAbused)} | - | - |`,
);
console.log(
  `\nMachine: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}; ${new Date().toISOString()}`,
);

await app.close();
await rm(dataDir, { recursive: true, force: true });
