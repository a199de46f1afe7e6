/**
 * Degraded modes under load, against the real services of served mode. A real `marquee serve` process runs
 * against Postgres (through a TCP proxy this script can cut) and a private Redis server that this script
 * starts and kills. Eight clients send a steady mix of reads and writes over HTTP for 30 s:
 *
 * - run 1: Redis is killed at 10 s and started again at 20 s;
 * - run 2: Postgres is cut at 10 s and restored at 20 s.
 *
 * It prints, per phase, the answers by status and the latency, and for run 2 how long after Postgres came
 * back the first request succeeded. It asserts nothing.
 *
 * Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:degraded
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import os from 'node:os';
import pg from 'pg';
import { freePort, startServerProcess } from '../test/helpers/spawn-server.ts';
import { startTcpProxy } from '../test/helpers/tcp-proxy.ts';

const ADMIN_KEY = 'bench-admin-key-0123456789-abcdefghijk';
const CLIENTS = 8;
const PHASE_MS = 10_000;
const ITEMS = 50;

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.log('bench:degraded needs DATABASE_URL (a Postgres server with pgvector); nothing measured.');
  process.exit(0);
}
const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

async function portAnswers(port: number) {
  return new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
async function startRedis(port: number) {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  for (let attempt = 0; attempt < 50 && !(await portAnswers(port)); attempt++) await sleep(100);
  return async () => {
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
  };
}

// A fresh database for this run, reached through a proxy that can be cut.
const admin = new pg.Client({ connectionString: databaseUrl });
await admin.connect();
const databaseName = `marquee_bench_degraded_${Date.now()}`;
await admin.query(`CREATE DATABASE ${databaseName}`);
const target = new URL(databaseUrl);
const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
const viaProxy = new URL(databaseUrl);
viaProxy.hostname = '127.0.0.1';
viaProxy.port = String(proxy.port());
viaProxy.pathname = `/${databaseName}`;

const redisPort = await freePort();
let stopRedis = await startRedis(redisPort);
const server = await startServerProcess({
  DATABASE_URL: viaProxy.toString(),
  REDIS_URL: `redis://127.0.0.1:${redisPort}`,
  MARQUEE_ADMIN_KEY: ADMIN_KEY,
  // The load is one key's; its limit is not what this measures.
  MARQUEE_RATE_LIMIT_ADMIN: '10000000',
  LOG_LEVEL: 'warn',
});
const base = server.baseUrl;
const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
for (let index = 0; index < ITEMS; index++) {
  await fetch(`${base}/v1/items/item-${index}`, {
    method: 'PUT',
    headers,
    body: JSON.stringify({ title: `Title ${index}`, genres: ['drama'] }),
  });
}

interface Sample {
  at: number;
  status: number;
  ms: number;
}
/** One request of the mix: item reads, listings, item writes and event posts. */
async function oneRequest(index: number): Promise<{ status: number }> {
  const item = `item-${index % ITEMS}`;
  const kind = index % 4;
  const response =
    kind === 0
      ? await fetch(`${base}/v1/items/${item}`, { headers })
      : kind === 1
        ? await fetch(`${base}/v1/items?limit=20`, { headers })
        : kind === 2
          ? await fetch(`${base}/v1/items/${item}`, {
              method: 'PUT',
              headers,
              body: JSON.stringify({ title: `Title ${index}`, genres: ['drama'] }),
            })
          : await fetch(`${base}/v1/events`, {
              method: 'POST',
              headers,
              body: JSON.stringify({ events: [{ userId: `user-${index % 7}`, itemId: item, type: 'view' }] }),
            });
  await response.arrayBuffer();
  return { status: response.status };
}
async function load(durationMs: number, onTick: (elapsed: number) => Promise<void>) {
  const started = Date.now();
  const samples: Sample[] = [];
  let counter = 0;
  let ticking = Promise.resolve();
  const ticker = setInterval(() => (ticking = ticking.then(() => onTick(Date.now() - started))), 100);
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (Date.now() - started < durationMs) {
        const sent = performance.now();
        const at = Date.now() - started;
        // 0: no answer at all (connection refused or reset).
        const status = await oneRequest(counter++).then(
          (answer) => answer.status,
          () => 0,
        );
        samples.push({ at, status, ms: performance.now() - sent });
        // A client that got an error waits a little, as a real one would.
        if (status >= 500 || status === 0) await sleep(50);
      }
    }),
  );
  clearInterval(ticker);
  await ticking;
  return samples;
}
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};
function report(title: string, samples: Sample[], phases: [string, number, number][]) {
  console.log(`\n${title}\n| phase | answers | p50 (ms) | p99 (ms) |\n| --- | --- | ---: | ---: |`);
  for (const [name, from, to] of phases) {
    const inPhase = samples.filter((sample) => sample.at >= from && sample.at < to);
    const counts = new Map<number, number>();
    for (const { status } of inPhase) counts.set(status, (counts.get(status) ?? 0) + 1);
    const answers = [...counts.entries()]
      .sort(([a], [b]) => a - b)
      .map(([status, count]) => `${status === 0 ? 'no answer' : status}: ${count}`)
      .join(', ');
    const ms = inPhase.map((sample) => sample.ms);
    console.log(
      `| ${name} | ${answers} | ${percentile(ms, 50).toFixed(1)} | ${percentile(ms, 99).toFixed(1)} |`,
    );
  }
  const fivexx = samples.filter((sample) => sample.status >= 500);
  const by = new Map<number, number>();
  for (const { status } of fivexx) by.set(status, (by.get(status) ?? 0) + 1);
  console.log(
    `5xx in the whole run: ${fivexx.length} (${[...by.entries()].map(([s, c]) => `${s}: ${c}`).join(', ') || 'none'}); no answer at all: ${samples.filter((s) => s.status === 0).length}`,
  );
}
const phases = (stopped: string): [string, number, number][] => [
  ['0-10 s, all services up', 0, PHASE_MS],
  [`10-20 s, ${stopped}`, PHASE_MS, 2 * PHASE_MS],
  ['20-30 s, back', 2 * PHASE_MS, 3 * PHASE_MS],
];

// Run 1: Redis killed at 10 s, started again at 20 s.
let redisState = 'up';
const redisRun = await load(3 * PHASE_MS, async (elapsed) => {
  if (elapsed >= PHASE_MS && redisState === 'up') {
    redisState = 'down';
    await stopRedis();
  } else if (elapsed >= 2 * PHASE_MS && redisState === 'down') {
    redisState = 'restarted';
    stopRedis = await startRedis(redisPort);
  }
});
report('Run 1: Redis killed at 10 s, restarted at 20 s', redisRun, phases('Redis killed'));
const readyAfterRedis = (await (await fetch(`${base}/readyz`)).json()) as { status: string };
console.log(`/readyz after run 1: ${readyAfterRedis.status}`);

// Run 2: Postgres cut at 10 s, restored at 20 s.
let postgresState = 'up';
let restoredAt = 0;
const postgresRun = await load(3 * PHASE_MS, async (elapsed) => {
  if (elapsed >= PHASE_MS && postgresState === 'up') {
    postgresState = 'down';
    await proxy.cut();
  } else if (elapsed >= 2 * PHASE_MS && postgresState === 'down') {
    postgresState = 'restored';
    await proxy.restore();
    restoredAt = elapsed;
  }
});
report('Run 2: Postgres cut at 10 s, restored at 20 s', postgresRun, phases('Postgres unreachable'));
const firstSuccess = postgresRun
  .filter((sample) => sample.at >= restoredAt && sample.status < 400)
  .map((sample) => sample.at + sample.ms)
  .sort((a, b) => a - b)[0];
const duringOutage = postgresRun.filter((s) => s.at >= PHASE_MS + 500 && s.at < 2 * PHASE_MS);
console.log(
  `During the outage: ${duringOutage.filter((s) => s.status === 503).length} of ${duringOutage.length} answers were 503 (from 0.5 s after the cut); first success ${firstSuccess === undefined ? 'never' : `${Math.round(firstSuccess - restoredAt)} ms`} after Postgres returned`,
);
console.log(
  `\nMachine: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}; ${new Date().toISOString()}`,
);

await server.stop('SIGTERM');
await stopRedis();
await proxy.close();
await admin.query(`DROP DATABASE ${databaseName} WITH (FORCE)`);
await admin.end();
