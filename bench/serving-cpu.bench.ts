/**
 * What one request costs in CPU, one at a time, with nothing else running: a personalised page, similar
 * items and a search, each injected into the app in this process (built as `marquee serve` builds it, page
 * caches off: routes, auth, rate limits and serialisation included, no socket), on a database that
 * bench:recommend loaded and kept. CPU of this process (process.cpuUsage) and of the database's Postgres
 * backends (/proc) over each run, divided by the requests: for comparing two versions of the engine on the
 * same data (bench:recommend and npm run bench measure under load, over HTTP).
 *
 * Needs the database of `npm run bench:recommend -- --only-load --keep-db` and Redis (REDIS_URL, default
 * redis://127.0.0.1:6379/0; keys under a prefix of this run, deleted at the end). Prints a table, asserts
 * nothing.
 *
 * Run: npm run bench:serving-cpu -- --db marquee_bench_recommend_<pid> [--requests 400 --warmup 50 --rounds 2]
 *      [--only page,similar,search] (some of the requests, e.g. under --cpu-prof)
 */
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger, openCache, openDatabase } from '../src/server.ts';
import { databaseUrlFor } from './bench-stores.ts';
import { postgresBackendsCpu } from './process-usage.ts';

const { values: args } = parseArgs({
  options: {
    db: { type: 'string' },
    requests: { type: 'string', default: '400' },
    warmup: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '2' },
    only: { type: 'string', default: 'page,similar,search' },
  },
});
if (!args.db)
  throw new Error('--db NAME: a database kept by npm run bench:recommend -- --only-load --keep-db');
const REQUESTS = Number(args.requests);
const WARMUP = Number(args.warmup);
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisPrefix = `marquee-bench-serving-cpu:${process.pid}:`;
const ADMIN_KEY = 'bench-serving-cpu-admin-key-0123456789';

const config = loadConfig({
  PATH: process.env.PATH ?? '',
  DATABASE_URL: databaseUrlFor(adminUrl, args.db),
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0',
  MARQUEE_REDIS_PREFIX: redisPrefix,
  MARQUEE_RECOMMENDATION_CACHE_SECONDS: '0',
  MARQUEE_SIMILAR_CACHE_SECONDS: '0',
  MARQUEE_MODEL_REFRESH_MINUTES: '0',
  MARQUEE_API_JOB_CONCURRENCY: '0',
  LOG_LEVEL: 'warn',
  MARQUEE_ADMIN_KEY: ADMIN_KEY,
  // One request at a time, far below any limit; the limiter still counts in Redis, as a server's does.
  MARQUEE_RATE_LIMIT_ADMIN: '10000000',
});
const logger = createLogger(config);
const database = await openDatabase(config, logger);
const cache = await openCache(config, logger);
const app = await buildApp({ config, database, cache, logger });
await app.ready();

try {
  // What a serving process holds before it answers: the model, the catalog, the search index.
  const started = performance.now();
  for (;;) {
    const model = app.recommender.model?.status();
    if (model?.vectorIndex.held && model.ranker.held && app.itemCatalog.status().held) break;
    if (performance.now() - started > 600_000) throw new Error('the model was not held within 10 minutes');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await app.recommender.model?.settled();
  await app.searchIndex.settled();
  console.log(`held in memory after ${Math.round(performance.now() - started)} ms`);

  const count = REQUESTS + WARMUP;
  const sample = async <T>(query: ReturnType<typeof sql<T>>) => (await query.execute(database.db)).rows;
  const userIds = (
    await sample(sql<{ id: string }>`SELECT id FROM users ORDER BY md5(id) LIMIT ${count}`)
  ).map((row) => row.id);
  const itemIds = (
    await sample(
      sql<{ id: string }>`SELECT item_id AS id FROM item_stats ORDER BY md5(item_id) LIMIT ${count}`,
    )
  ).map((row) => row.id);
  // What people type, as npm run bench asks: half a whole title, half two words of a synopsis.
  const queries = (
    await sample(
      sql<{
        title: string;
        description: string | null;
      }>`SELECT title, description FROM items ORDER BY md5(id) LIMIT ${count}`,
    )
  ).map((item, index) => {
    const words = String(item.description ?? item.title)
      .replace(/\.$/, '')
      .split(' ');
    const at = index % words.length;
    return index % 2 === 0 ? item.title : `${words[at]} ${words[(at + 1) % words.length]}`;
  });

  const headers = { authorization: `Bearer ${ADMIN_KEY}` };
  const answer = async (request: { method: 'GET' | 'POST'; url: string; payload?: object }) => {
    const response = await app.inject({ ...request, headers });
    if (response.statusCode !== 200) throw new Error(`${response.statusCode}: ${response.body}`);
  };
  const only = new Set(args.only.split(','));
  type Run = [kind: string, name: string, inputs: string[], request: (input: string) => Promise<void>];
  const runs = (
    [
      [
        'page',
        'personalised page (limit 20)',
        userIds,
        (userId) =>
          answer({ method: 'GET', url: `/v1/users/${encodeURIComponent(userId)}/recommendations?limit=20` }),
      ],
      [
        'similar',
        'similar items (limit 20)',
        itemIds,
        (itemId) =>
          answer({ method: 'GET', url: `/v1/items/${encodeURIComponent(itemId)}/similar?limit=20` }),
      ],
      [
        'search',
        'search (limit 20)',
        queries,
        (query) => answer({ method: 'POST', url: '/v1/search', payload: { query, limit: 20 } }),
      ],
    ] satisfies Run[]
  ).filter(([kind]) => only.has(kind));

  console.log(
    '| request | round | requests | CPU ms a request (process + Postgres) | process | Postgres | wall ms a request |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (let round = 1; round <= Number(args.rounds); round++)
    for (const [, name, inputs, request] of runs) {
      for (const input of inputs.slice(0, WARMUP)) await request(input);
      const measured = inputs.slice(WARMUP);
      const postgresBefore = await postgresBackendsCpu(args.db);
      const cpuBefore = process.cpuUsage();
      const wallBefore = performance.now();
      for (const input of measured) await request(input);
      const wall = performance.now() - wallBefore;
      const cpu = process.cpuUsage(cpuBefore);
      let postgres = 0;
      for (const [pid, seconds] of await postgresBackendsCpu(args.db))
        postgres += seconds - (postgresBefore.get(pid) ?? 0);
      const processMs = (cpu.user + cpu.system) / 1000 / measured.length;
      const postgresMs = (postgres * 1000) / measured.length;
      console.log(
        `| ${name} | ${round} | ${measured.length} | ${(processMs + postgresMs).toFixed(2)} | ${processMs.toFixed(2)} | ` +
          `${postgresMs.toFixed(2)} | ${(wall / measured.length).toFixed(2)} |`,
      );
    }
} finally {
  await cache.deleteByPrefix('');
  // The app closes the database and the cache it was built on.
  await app.close();
}
