/**
 * LLM explanations under a page-load budget: the API (embedded database, memory cache) against the local
 * OpenAI-compatible test server playing a model that takes a realistic time to answer. For each phase it
 * prints requests, p50 and p99 page latency and the LLM calls made:
 *   1. pages without explanations (the baseline);
 *   2. explain=true with an 800 ms model: one call per page;
 *   3. the same pages again: explanations from the cache, no call;
 *   4. explain=true with a 5 s model: the page answers at the 2.5 s budget with templates, and the circuit
 *      breaker opens after its 5 time-outs so the pages after it pay nothing;
 *   5. explain=async with an 800 ms model: the page at once, then the stream (time to its first event and
 *      to `done`).
 *
 * Run: npm run bench:explain   (node bench/explain.bench.ts [--items 2000 --users 120 --concurrency 8]).
 * It prints figures and asserts nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from '../src/app.ts';
import { createMemoryCache } from '../src/cache/memory-cache.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger, openDatabase } from '../src/server.ts';
import { startOpenAiTestServer } from '../test/helpers/openai-test-server.ts';
import { explainingModel } from './explaining-model.ts';
import { syntheticItem } from './synthetic-catalog.ts';

const { values: options } = parseArgs({
  options: {
    items: { type: 'string', default: '2000' },
    users: { type: 'string', default: '120' },
    concurrency: { type: 'string', default: '8' },
  },
});
const ITEMS = Number(options.items);
const USERS = Number(options.users);
const CONCURRENCY = Number(options.concurrency);
const ADMIN_KEY = 'bench-admin-key-0123456789-abcdefghijk';
const PAGE = 10;

const llm = await startOpenAiTestServer({ chat: explainingModel, latencyMs: 800 });
const dataDir = await mkdtemp(join(os.tmpdir(), 'marquee-bench-explain-'));
const config = loadConfig({
  MARQUEE_DATA_DIR: join(dataDir, 'db'),
  LOG_LEVEL: 'warn',
  MARQUEE_ADMIN_KEY: ADMIN_KEY,
  OPENAI_BASE_URL: llm.url,
  MARQUEE_LLM_MAX_RETRIES: '0',
  MARQUEE_RATE_LIMIT_ADMIN: '10000000',
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
const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };

async function call(path: string, init: RequestInit = {}) {
  const started = performance.now();
  const response = await fetch(`${base}${path}`, { ...init, headers: { ...headers, ...init.headers } });
  const text = await response.text();
  if (!response.ok) throw new Error(`${response.status} ${path}: ${text.slice(0, 300)}`);
  return { ms: performance.now() - started, text };
}

// Catalog and history: each user finished 12 items of two genres' worth of the catalog.
process.stdout.write(`loading ${ITEMS} items and ${USERS} users...\n`);
const loadStarted = performance.now();
for (let start = 0; start < ITEMS; start += 500) {
  const ndjson = Array.from({ length: Math.min(500, ITEMS - start) }, (_, n) =>
    JSON.stringify(syntheticItem(start + n)),
  ).join('\n');
  await call('/v1/imports?kind=items&format=ndjson&wait=true', {
    method: 'POST',
    body: ndjson,
    headers: { 'content-type': 'application/x-ndjson' },
  });
}
await app.embedding.idle();
let seed = 7;
const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
for (let user = 0; user < USERS; user++) {
  const events = Array.from({ length: 12 }, () => ({
    userId: `user-${user}`,
    itemId: syntheticItem(Math.floor(random() ** 2 * ITEMS)).id,
    type: 'complete',
  }));
  await call('/v1/events', { method: 'POST', body: JSON.stringify({ events }) });
}
await app.modelTraining.trainNow();
process.stdout.write(`loaded in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s\n\n`);

async function phase(name: string, paths: string[]) {
  const chatCalls = () => llm.requests.filter((request) => request.path === '/v1/chat/completions').length;
  const callsBefore = chatCalls();
  const times: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < paths.length) {
        const path = paths[next++]!;
        times.push((await call(path)).ms);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return {
    name,
    requests: times.length,
    perSecond: times.length / seconds,
    p50: at(0.5),
    p99: at(0.99),
    llmCalls: chatCalls() - callsBefore,
  };
}

const users = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, n) => `/v1/users/user-${from + n}/recommendations?limit=${PAGE}`);
const third = Math.floor(USERS / 3);
const rows = [];
rows.push(await phase('pages, no explanations (baseline)', users(0, third)));
rows.push(
  await phase(
    'explain=true, model 800 ms',
    users(0, third).map((path) => `${path}&explain=true`),
  ),
);
rows.push(
  await phase(
    'explain=true again (cached)',
    users(0, third).map((path) => `${path}&explain=true`),
  ),
);
llm.setLatency(5_000);
rows.push(
  await phase(
    'explain=true, model 5 s (budget 2.5 s)',
    users(third, 2 * third).map((path) => `${path}&explain=true`),
  ),
);
llm.setLatency(800);
await new Promise((resolve) => setTimeout(resolve, config.llm!.circuitOpenSeconds * 1000 + 100));

// explain=async: the page, then its stream.
const asyncTimes: { page: number; first: number; done: number }[] = [];
const asyncCallsBefore = llm.requests.length;
for (const path of users(2 * third, Math.min(USERS, 2 * third + 20))) {
  const page = await call(`${path}&explain=async`);
  const { url } = (JSON.parse(page.text) as { explanationStream: { url: string } }).explanationStream;
  const started = performance.now();
  const response = await fetch(`${base}${url}`, { headers: { accept: 'text/event-stream' } });
  const reader = response.body!.getReader();
  let first = 0;
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString('utf8');
    if (!first && text.includes('event: explanation')) first = performance.now() - started;
  }
  asyncTimes.push({ page: page.ms, first, done: performance.now() - started });
}
const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

process.stdout.write(
  `\n| phase (${PAGE} items a page, concurrency ${CONCURRENCY}) | requests | req/s | p50 ms | p99 ms | LLM calls |\n| --- | ---: | ---: | ---: | ---: | ---: |\n`,
);
for (const row of rows)
  process.stdout.write(
    `| ${row.name} | ${row.requests} | ${row.perSecond.toFixed(1)} | ${row.p50.toFixed(0)} | ${row.p99.toFixed(0)} | ${row.llmCalls} |\n`,
  );
process.stdout.write(
  `\nexplain=async, model 800 ms, ${asyncTimes.length} pages one at a time: page p50 ${median(asyncTimes.map((t) => t.page)).toFixed(0)} ms; ` +
    `stream first explanation p50 ${median(asyncTimes.map((t) => t.first)).toFixed(0)} ms, done p50 ${median(asyncTimes.map((t) => t.done)).toFixed(0)} ms; ` +
    `LLM calls ${llm.requests.length - asyncCallsBefore}\n`,
);

await app.close();
await llm.close();
await rm(dataDir, { recursive: true, force: true });
