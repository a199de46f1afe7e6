import { sql } from 'kysely';
import { sleep, until } from '../helpers/wait.ts';
import { setTimeout } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import type { Embedder } from '../../src/embedding/embedder.ts';
import { type ImportBatch, processImportBatch } from '../../src/ingest/import-batch.ts';
import { type ImportRecord, toImportRecord } from '../../src/ingest/import-records.ts';
import { createImport } from '../../src/ingest/import-runner.ts';
import { startImportWorker } from '../../src/jobs/bullmq-import-queue.ts';
import { claimImportsToSweep, markImportRead } from '../../src/repositories/imports.repository.ts';
import { getImportStatus } from '../../src/services/imports.service.ts';
import { startOpenAiTestServer } from '../helpers/openai-test-server.ts';
import { buildTestApp, redisUrl, servedMode } from '../helpers/test-app.ts';

// Issue 16, finding 6: every import ends. MARQUEE_IMPORT_STALL_SECONDS is 2 here (300 by default); the
// sweeper looks every second.
const STALL_SECONDS = 2;
const STALL = { MARQUEE_IMPORT_STALL_SECONDS: String(STALL_SECONDS) };

const ended = (app: FastifyInstance, importId: string, timeoutMs = 30_000) =>
  until(
    async () => {
      const status = await getImportStatus(app.db, importId);
      return status.status === 'completed' || status.status === 'failed' ? status : undefined;
    },
    `import ${importId} to end`,
    timeoutMs,
  );

const countRows = async (app: FastifyInstance, table: 'items' | 'item_embeddings') =>
  Number(
    (
      await app.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

function batchOf(importId: string, batchNo: number, size = 10): ImportBatch {
  const records: ImportRecord[] = Array.from({ length: size }, (_, index) => {
    const line = batchNo * size + index + 1;
    const result = toImportRecord({ kind: 'items', format: 'ndjson', mode: 'replace' }, line, {
      id: `i${line}`,
      title: `T${line}`,
    });
    if (!('record' in result)) throw new Error(JSON.stringify(result.error));
    return result.record;
  });
  return { importId, batchNo, kind: 'items', sync: false, records };
}

/** Runs a batch as a worker would; with `failEmbedding`, as one that died after writing its rows. */
async function runBatch(app: FastifyInstance, batch: ImportBatch, failEmbedding = false): Promise<void> {
  const embedder = await app.embedding.embedder();
  const failing: Embedder = {
    space: embedder.space,
    embed: async () => {
      throw new Error('the worker died');
    },
  };
  await processImportBatch(
    {
      db: app.db,
      policy: app.embedding.policy,
      embedder: async () => (failEmbedding ? failing : embedder),
    },
    batch,
  ).catch((error: unknown) => {
    if (!failEmbedding) throw error;
  });
}

const newImport = (app: FastifyInstance) =>
  createImport(app.db, { kind: 'items', format: 'ndjson', mode: 'upsert', source: 'http' });

t.test('an import whose reader died (its process was killed) is failed, not left receiving', async (t) => {
  const { app } = await buildTestApp(t, { env: STALL });
  // An import that no process reads any more: created, two batches handed over, then its process died.
  const importId = await newImport(app);
  await runBatch(app, batchOf(importId, 0));
  await runBatch(app, batchOf(importId, 1));
  const started = Date.now();
  const status = await ended(app, importId);
  t.match(status, {
    status: 'failed',
    failure:
      `the upload stopped: the process receiving it has been gone for ${STALL_SECONDS} s (MARQUEE_IMPORT_STALL_SECONDS); ` +
      'the batches it had handed over were kept',
    counts: { inserted: 20 },
  });
  t.ok(Date.now() - started < 15_000, `ended after ${Date.now() - started} ms`);
});

t.test(
  'a processing import whose batch was lost before being written is failed, naming the batch',
  async (t) => {
    const { app } = await buildTestApp(t, { env: STALL });
    const importId = await newImport(app);
    await runBatch(app, batchOf(importId, 0));
    // Batch 1's worker died after writing its rows; batch 2's job vanished before it ran.
    await runBatch(app, batchOf(importId, 1), true);
    await markImportRead(app.db, importId, 3);
    const status = await ended(app, importId);
    t.match(status, {
      status: 'failed',
      failure:
        '1 batch was lost before being written (batch 2): their jobs are gone; the other batches were kept',
      counts: { inserted: 20 },
    });
    t.match(status.errors, [
      {
        line: 0,
        reason:
          'batch 1: stored but not embedded (its job was lost); the items stay pending and are embedded later',
      },
    ]);
  },
);

t.test(
  'a processing import whose last batch lost its job after writing ends, and its items get embedded',
  async (t) => {
    const { app } = await buildTestApp(t, { env: STALL });
    const importId = await newImport(app);
    await runBatch(app, batchOf(importId, 0));
    await runBatch(app, batchOf(importId, 1), true);
    await markImportRead(app.db, importId, 2);
    t.equal(await countRows(app, 'item_embeddings'), 10, 'batch 1 was not embedded');
    const status = await ended(app, importId);
    t.match(status, { status: 'completed', counts: { inserted: 20, embedded: 10 } });
    // The sweeper's next rounds embed what the import left pending.
    await until(
      async () => ((await countRows(app, 'item_embeddings')) === 20 ? true : undefined),
      'the pending items to be embedded',
    );
    const row = await app.db
      .selectFrom('imports')
      .select('embeddings_pending')
      .where('id', '=', importId)
      .executeTakeFirstOrThrow();
    t.equal(row.embeddings_pending, false);
  },
);

t.test(
  'with the embedding provider answering 500, an import still ends; its items are embedded later',
  async (t) => {
    const openai = await startOpenAiTestServer();
    t.teardown(() => openai.close());
    openai.failNext(1_000_000, { status: 500, path: '/v1/embeddings' });
    const { inject, app } = await buildTestApp(t, {
      env: {
        ...STALL,
        MARQUEE_EMBEDDER: 'openai',
        OPENAI_BASE_URL: openai.url,
        MARQUEE_EMBEDDING_DIMENSION: '64',
        MARQUEE_OPENAI_MAX_RETRIES: '0',
        MARQUEE_IMPORT_BATCH_SIZE: '10',
      },
    });
    const lines = Array.from({ length: 30 }, (_, index) =>
      JSON.stringify({ id: `m${index}`, title: `M${index}` }),
    );
    const response = await Promise.race([
      inject({
        method: 'POST',
        url: '/v1/imports?kind=items&format=ndjson&wait=true',
        headers: { 'content-type': 'application/x-ndjson' },
        payload: lines.join('\n'),
      }),
      // Unref'd: a timer left waiting here kept the test process alive 90 s after its last test.
      setTimeout(90_000, undefined, { ref: false }),
    ]);
    if (!response) throw new Error('the import did not end within 90 s');
    t.equal(response.statusCode, 200, response.body);
    const status = response.json();
    t.match(status, { status: 'completed', counts: { received: 30, inserted: 30, failed: 0, embedded: 0 } });
    t.equal(status.errors.length, 3, 'one note a batch');
    for (const error of status.errors)
      t.match(
        error.reason,
        /^lines \d+-\d+: stored but not embedded \(the embedder failed 5 times\); the items stay pending/,
      );
    t.equal(await countRows(app, 'item_embeddings'), 0);
    // The provider recovers: the sweeper embeds what was left pending.
    openai.reset();
    await until(
      async () => ((await countRows(app, 'item_embeddings')) === 30 ? true : undefined),
      'the items to be embedded once the provider is back',
    );
  },
);

t.test('sweepers in several processes never take the same import', async (t) => {
  const { app } = await buildTestApp(t, { env: STALL });
  const ids = await Promise.all(Array.from({ length: 6 }, () => newImport(app)));
  await sql`UPDATE imports SET progress_at = now() - interval '1 hour', reader_alive_at = now() - interval '1 hour'`.execute(
    app.db,
  );
  const [first, second] = await Promise.all([
    claimImportsToSweep(app.db, 3_600, 10),
    claimImportsToSweep(app.db, 3_600, 10),
  ]);
  const taken = [...first.stalled, ...second.stalled].map((stalled) => stalled.id);
  t.equal(new Set(taken).size, taken.length, 'no import taken twice');
  // The app's own sweeper (stall 2 s) may have taken some before; what is left is taken once.
  const third = await claimImportsToSweep(app.db, STALL_SECONDS, 10);
  t.same(third.stalled, [], 'a claimed import is left alone for a stall period');
  t.ok(taken.every((id) => ids.includes(id)));
});

t.test(
  'served: batches waiting for a worker are waited for, not failed, and end once a worker comes',
  { skip: servedMode && redisUrl ? false : 'needs DATABASE_URL and REDIS_URL (the served-mode run)' },
  async (t) => {
    const { app, inject, config } = await buildTestApp(t, {
      env: { ...STALL, MARQUEE_API_JOB_CONCURRENCY: '0', MARQUEE_IMPORT_BATCH_SIZE: '10' },
    });
    const lines = Array.from({ length: 30 }, (_, index) =>
      JSON.stringify({ id: `w${index}`, title: `W${index}` }),
    );
    const accepted = await inject({
      method: 'POST',
      url: '/v1/imports?kind=items&format=ndjson',
      headers: { 'content-type': 'application/x-ndjson' },
      payload: lines.join('\n'),
    });
    t.equal(accepted.statusCode, 202, accepted.body);
    const { importId } = accepted.json<{ importId: string }>();
    // Three stall periods with no worker at all: the jobs are queued, so the import is only waiting.
    await sleep(3 * STALL_SECONDS * 1000);
    t.equal((await getImportStatus(app.db, importId)).status, 'processing');
    const worker = startImportWorker({
      context: { db: app.db, policy: app.embedding.policy, embedder: () => app.embedding.embedder() },
      redis: config.redis ?? { url: '', keyPrefix: '' },
      concurrency: 1,
      lockMs: config.jobs.lockMs,
      logger: app.log,
    });
    t.teardown(() => worker.close());
    t.match(await ended(app, importId), { status: 'completed', counts: { inserted: 30, embedded: 30 } });
  },
);
