import { sql } from 'kysely';
import { pino } from 'pino';
import t from 'tap';
import { buildApp } from '../../src/app.ts';
import { createMemoryCache } from '../../src/cache/memory-cache.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/server.ts';
import { startOpenAiTestServer } from '../helpers/openai-test-server.ts';
import { startWorkerProcess } from '../helpers/spawn-server.ts';
import {
  asAdmin,
  freshDatabaseConfig,
  redisUrl,
  servedMode,
  TEST_ADMIN_KEY,
  uniqueTestName,
} from '../helpers/test-app.ts';

const ITEMS = 2_000;
const BATCH_SIZE = 100;
const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

t.test(
  'a worker killed with SIGKILL in the middle of an import: the import still ends with exact counts',
  { skip: servedMode && redisUrl ? false : 'needs DATABASE_URL and REDIS_URL (the served-mode run)' },
  async (t) => {
    // Each embedding request takes 300 ms, so a worker spends most of a batch waiting on it: the kill lands
    // inside a job, after its rows were written and before its embeddings were stored.
    const openai = await startOpenAiTestServer({ latencyMs: 300 });
    t.teardown(() => openai.close());
    const database = await freshDatabaseConfig(t);
    if (database.kind !== 'postgres') throw new Error('served mode expected');
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl ?? '',
      MARQUEE_REDIS_PREFIX: uniqueTestName('redis'),
      MARQUEE_EMBEDDER: 'openai',
      OPENAI_BASE_URL: openai.url,
      MARQUEE_EMBEDDING_DIMENSION: '64',
      MARQUEE_IMPORT_BATCH_SIZE: String(BATCH_SIZE),
      MARQUEE_IMPORT_MAX_QUEUED_BATCHES: '100',
      MARQUEE_API_JOB_CONCURRENCY: '0',
      MARQUEE_WORKER_CONCURRENCY: '1',
      MARQUEE_JOB_LOCK_MS: '1500',
      MARQUEE_ADMIN_KEY: TEST_ADMIN_KEY,
      LOG_LEVEL: 'info',
    };
    const config = loadConfig({ ...env, LOG_LEVEL: 'silent' });
    const logger = pino({ level: 'silent' });
    const app = await buildApp({
      config,
      database: await openDatabase(config, logger),
      cache: createMemoryCache(),
      logger,
    });
    t.teardown(() => app.close());

    const doomed = startWorkerProcess(env);
    const survivor = startWorkerProcess(env);
    t.teardown(async () => {
      await Promise.all([doomed.stop(), survivor.stop()]);
    });
    await Promise.all([doomed.ready(), survivor.ready()]);

    const lines = Array.from({ length: ITEMS }, (_, index) =>
      JSON.stringify({ id: `t${index}`, title: `Title ${index}`, genres: [index % 2 ? 'drama' : 'comedy'] }),
    );
    const accepted = await app.inject(
      asAdmin({
        method: 'POST',
        url: '/v1/imports?kind=items&format=ndjson',
        headers: { 'content-type': 'application/x-ndjson' },
        payload: lines.join('\n'),
      }),
    );
    t.equal(accepted.statusCode, 202, accepted.body);
    const { importId } = accepted.json<{ importId: string }>();

    await until(() => doomed.batchesDone() >= 2, 'the first worker to finish two batches');
    await sleep(100);
    await doomed.stop('SIGKILL');
    const doneBeforeKill = doomed.batchesDone();
    const meanwhile = (await app.inject(asAdmin({ method: 'GET', url: `/v1/imports/${importId}` }))).json();
    t.equal(meanwhile.status, 'processing', 'the killed batch holds the import open');
    t.equal(meanwhile.timings.batchesFinishedAt, null, 'so not every batch is finished');

    let status: {
      status: string;
      counts: Record<string, number>;
      errors: unknown[];
      timings?: { batchesFinishedAt: string | null; finishedAt: string | null };
    } = { status: 'processing', counts: {}, errors: [] };
    const started = Date.now();
    while (status.status !== 'completed' && status.status !== 'failed' && Date.now() - started < 60_000) {
      await sleep(100);
      status = (await app.inject(asAdmin({ method: 'GET', url: `/v1/imports/${importId}` }))).json();
    }
    t.equal(status.status, 'completed', JSON.stringify(status));
    t.same(
      status.counts,
      {
        received: ITEMS,
        inserted: ITEMS,
        updated: 0,
        unchanged: 0,
        deleted: 0,
        failed: 0,
        embedded: ITEMS,
      },
      'every record counted once',
    );
    t.same(status.errors, []);
    t.ok(
      Date.parse(status.timings?.batchesFinishedAt ?? '') <= Date.parse(status.timings?.finishedAt ?? ''),
      'the last batch finished before the import ended',
    );

    const { db } = app;
    const rows = await sql<{ items: string; embeddings: string; distinct_items: string }>`
      SELECT (SELECT count(*) FROM items) AS items,
             (SELECT count(DISTINCT id) FROM items) AS distinct_items,
             (SELECT count(*) FROM item_embeddings) AS embeddings`.execute(db);
    t.same(rows.rows[0], { items: String(ITEMS), distinct_items: String(ITEMS), embeddings: String(ITEMS) });
    const batches = await sql<{ total: string; finished: string }>`
      SELECT count(*) AS total, count(finished_at) AS finished FROM import_batches
      WHERE import_id = ${importId} AND batch_no >= 0`.execute(db);
    t.same(batches.rows[0], { total: String(ITEMS / BATCH_SIZE), finished: String(ITEMS / BATCH_SIZE) });

    t.ok(doneBeforeKill >= 2, `the killed worker finished ${doneBeforeKill} batches before it died`);
    t.ok(survivor.batchesDone() >= 1, `the other worker finished ${survivor.batchesDone()} batches`);
    t.match(
      survivor.output(),
      /lost its worker/,
      'the killed worker held a job, which went back to the queue and was finished by the other',
    );
  },
);
