import { gzipSync } from 'node:zlib';
import { type Kysely, sql } from 'kysely';
import t from 'tap';
import type { Database } from '../../src/db/database.ts';
import { ensureEmbeddingSpace } from '../../src/db/embedding-space.ts';
import {
  dropItemEmbeddingsIndexIfEmpty,
  ensureItemEmbeddingsIndex,
} from '../../src/repositories/vector-index.repository.ts';
import { buildTestApp } from '../helpers/test-app.ts';

// The HNSW index is dropped for a bulk load into an empty table and built again when the load ends: no way
// out of an import, nor a start-up, may leave the database without it.

const ndjson = (count: number, prefix: string) =>
  Array.from({ length: count }, (_, index) =>
    JSON.stringify({ id: `${prefix}${index}`, title: `Title ${prefix}${index}`, genres: ['drama'] }),
  ).join('\n');

async function indexExists(db: Kysely<Database>): Promise<boolean> {
  const result = await sql<{ present: boolean }>`
    SELECT to_regclass('item_embeddings_hnsw_idx') IS NOT NULL AS present`.execute(db);
  return result.rows[0]?.present ?? false;
}

t.test('an import into an empty catalog ends with the index built and the tables analyzed', async (t) => {
  const { inject, database } = await buildTestApp(t);
  t.ok(await indexExists(database.db), 'a new database has it');
  const response = await inject({
    method: 'POST',
    url: '/v1/imports?kind=items&format=ndjson&wait=true',
    payload: ndjson(50, 'a'),
  });
  t.match(response.json(), { status: 'completed', counts: { inserted: 50, embedded: 50 } });
  t.ok(await indexExists(database.db), 'built again at the end of the load');
  const analyzed = await sql<{ tuples: number }>`
    SELECT reltuples::int AS tuples FROM pg_class WHERE relname = 'item_embeddings'`.execute(database.db);
  t.equal(analyzed.rows[0]?.tuples, 50, 'statistics are fresh');

  t.notOk(await dropItemEmbeddingsIndexIfEmpty(database.db), 'a table with rows keeps its index');
  t.ok(await indexExists(database.db));
});

t.test('an import whose source breaks still leaves the index', async (t) => {
  const { inject, database } = await buildTestApp(t);
  const whole = gzipSync(ndjson(2000, 'b'));
  const response = await inject({
    method: 'POST',
    url: '/v1/imports?kind=items&format=ndjson&wait=true',
    headers: { 'content-type': 'application/gzip' },
    payload: whole.subarray(0, Math.floor(whole.length / 2)),
  });
  t.equal(response.json().status, 'failed', response.body);
  t.ok(await indexExists(database.db));
});

t.test('concurrent builders build the index once; a start-up builds a missing one', async (t) => {
  const { database, config } = await buildTestApp(t);
  t.ok(await dropItemEmbeddingsIndexIfEmpty(database.db), 'dropped on the empty table');
  t.notOk(await indexExists(database.db));
  const built = await Promise.all([1, 2, 3].map(() => ensureItemEmbeddingsIndex(database.db)));
  t.equal(
    built.filter(Boolean).length,
    1,
    'one of three concurrent calls builds it, the others find it built',
  );
  t.ok(await indexExists(database.db));

  t.ok(await dropItemEmbeddingsIndexIfEmpty(database.db));
  await ensureEmbeddingSpace(database.db, config.embedding);
  t.ok(await indexExists(database.db), 'what start-up runs builds it');
});
