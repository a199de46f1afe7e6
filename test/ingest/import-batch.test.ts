import t, { type Test } from 'tap';
import { createEmbedder, itemTextPolicy } from '../../src/embedding/create-embedder.ts';
import { embedPendingItems } from '../../src/embedding/embed-pending.ts';
import type { Embedder } from '../../src/embedding/embedder.ts';
import {
  finalizeImportIfDone,
  type ImportBatch,
  processImportBatch,
  recordFailedBatch,
} from '../../src/ingest/import-batch.ts';
import { toImportRecord, type ImportRecord } from '../../src/ingest/import-records.ts';
import { createImport } from '../../src/ingest/import-runner.ts';
import { markImportRead } from '../../src/repositories/imports.repository.ts';
import { getImportStatus } from '../../src/services/imports.service.ts';
import { openTestDatabase, testConfig } from '../helpers/test-app.ts';

const ITEMS = 20;

function itemRecords(): ImportRecord[] {
  return Array.from({ length: ITEMS }, (_, index) => {
    const result = toImportRecord({ kind: 'items', format: 'ndjson', mode: 'replace' }, index + 1, {
      id: `m${index}`,
      title: `Movie ${index}`,
      genres: ['drama'],
    });
    if (!('record' in result)) throw new Error(JSON.stringify(result.error));
    return result.record;
  });
}

async function setUp(t: Test) {
  const config = testConfig();
  const database = await openTestDatabase(t, config);
  t.teardown(() => database.close());
  const { db } = database;
  const policy = itemTextPolicy(config);
  const embedder = await createEmbedder(config);
  const failing: Embedder = {
    space: embedder.space,
    embed: async () => {
      throw new Error('the embedding provider answered 500');
    },
  };
  const importId = await createImport(db, {
    kind: 'items',
    format: 'ndjson',
    mode: 'upsert',
    source: 'test',
  });
  const batch: ImportBatch = { importId, batchNo: 0, kind: 'items', sync: false, records: itemRecords() };
  return { db, policy, embedder, failing, importId, batch };
}

t.test(
  "an import's embedded count comes from the database, whoever stored the embeddings (issue 16, item 7)",
  async (t) => {
    const { db, policy, embedder, failing, importId, batch } = await setUp(t);
    // The first run writes the batch, then its embedder fails (or its worker dies) before storing anything.
    await t.rejects(processImportBatch({ db, policy, embedder: async () => failing }, batch), /500/);
    // Meanwhile the API's background embedder embeds every pending item, this batch's included.
    t.equal(await embedPendingItems(db, embedder, policy), ITEMS);
    // The retry finds nothing left to embed, and finishes the batch.
    await processImportBatch({ db, policy, embedder: async () => embedder }, batch);
    await markImportRead(db, importId, 1);
    await finalizeImportIfDone(db, importId);
    const status = await getImportStatus(db, importId);
    t.equal(status.status, 'completed');
    t.match(status.counts, { received: 0, inserted: ITEMS, embedded: ITEMS }, 'all stored, all counted');
  },
);

t.test('a batch whose embedder keeps failing still ends its import, its items left pending', async (t) => {
  const { db, policy, embedder, failing, importId, batch } = await setUp(t);
  let failure: unknown;
  await processImportBatch({ db, policy, embedder: async () => failing }, batch).catch(
    (error: unknown) => (failure = error),
  );
  await markImportRead(db, importId, 1);
  await recordFailedBatch(db, batch, failure, 5);
  const status = await getImportStatus(db, importId);
  t.equal(status.status, 'completed', 'the import ends');
  t.match(status.counts, { inserted: ITEMS, failed: 0, embedded: 0 });
  t.same(status.errors, [
    {
      line: 1,
      reason:
        'lines 1-20: stored but not embedded (the embedder failed 5 times); the items stay pending and are ' +
        'embedded later',
    },
  ]);
  t.notMatch(JSON.stringify(status), /500/, 'the cause is not shown');
  const row = await db
    .selectFrom('imports')
    .select('embeddings_pending')
    .where('id', '=', importId)
    .executeTakeFirstOrThrow();
  t.equal(row.embeddings_pending, true, 'marked for a later embedding run');
  t.equal(await embedPendingItems(db, embedder, policy), ITEMS, 'the items were left pending');

  // Recorded twice (a retried failure): nothing changes.
  await recordFailedBatch(db, batch, failure, 5);
  t.equal((await getImportStatus(db, importId)).errors.length, 1);
});

t.test('a batch that could never be written is counted as failed, without the database error', async (t) => {
  const { db, importId, batch } = await setUp(t);
  await recordFailedBatch(
    db,
    batch,
    new Error('invalid byte sequence for encoding "UTF8": 0x00 (a database error)'),
    5,
  );
  await markImportRead(db, importId, 1);
  await finalizeImportIfDone(db, importId);
  const status = await getImportStatus(db, importId);
  t.equal(status.status, 'completed');
  t.match(status.counts, { inserted: 0, failed: ITEMS });
  t.equal(status.errors.length, 5, 'the first five records, by line');
  for (const error of status.errors)
    t.equal(
      error.reason,
      'not written: the batch failed 5 times on a server error (the server log has the cause)',
    );
});
