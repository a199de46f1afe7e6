import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import t from 'tap';
import { connectDatabase } from '../../src/db/connect.ts';
import { DataDirInUseError } from '../../src/db/data-dir-lock.ts';
import { EmbeddingSpaceMismatchError, ensureEmbeddingSpace } from '../../src/db/embedding-space.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { freshDatabaseConfig, servedMode } from '../helpers/test-app.ts';

t.test('migrations run once: a second run applies nothing', async (t) => {
  const database = await connectDatabase(await freshDatabaseConfig(t));
  t.teardown(() => database.close());
  t.same(await migrateToLatest(database.db), [
    '0001_initial',
    '0002_api_keys',
    '0003_imports',
    '0004_item_embeddings_next',
    '0005_recommendations',
    '0006_boosted_items_index',
    '0007_chat_sessions',
    '0008_item_title_index',
    '0009_item_document_cost',
    '0010_user_token_revocations',
    '0011_import_progress',
    '0012_live_item_stats',
    '0013_model_snapshot_change_indexes',
    '0014_item_search_documents',
    '0015_ranker_models',
    '0016_recommendation_feedback',
    '0017_search_document_changes',
  ]);
  t.same(await migrateToLatest(database.db), []);
  const tables = await sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`.execute(
    database.db,
  );
  t.same(
    tables.rows.map((row) => row.table_name).filter((name) => !name.startsWith('kysely_')),
    [
      'api_keys',
      'chat_sessions',
      'events',
      'import_batches',
      'import_seen_ids',
      'imports',
      'item_embeddings',
      'item_embeddings_next',
      'item_neighbours',
      'item_search_documents',
      'item_stats',
      'items',
      'marquee_meta',
      'ranker_models',
      'recommendation_feedback',
      'recommendation_impressions',
      'user_profiles',
      'user_token_revocations',
      'users',
    ],
  );
});

if (servedMode) {
  t.test(
    'replicas starting together take turns on the advisory lock: one migrates, none fails',
    async (t) => {
      const config = await freshDatabaseConfig(t);
      const replicas = await Promise.all([1, 2, 3, 4].map(() => connectDatabase(config)));
      t.teardown(() => Promise.all(replicas.map((replica) => replica.close())));
      const applied = await Promise.all(replicas.map((replica) => migrateToLatest(replica.db)));
      t.same(
        applied.flat(),
        [
          '0001_initial',
          '0002_api_keys',
          '0003_imports',
          '0004_item_embeddings_next',
          '0005_recommendations',
          '0006_boosted_items_index',
          '0007_chat_sessions',
          '0008_item_title_index',
          '0009_item_document_cost',
          '0010_user_token_revocations',
          '0011_import_progress',
          '0012_live_item_stats',
          '0013_model_snapshot_change_indexes',
          '0014_item_search_documents',
          '0015_ranker_models',
          '0016_recommendation_feedback',
          '0017_search_document_changes',
        ],
        'exactly one replica ran the migrations',
      );
      await Promise.all(
        replicas.map((replica) =>
          ensureEmbeddingSpace(replica.db, { provider: 'local', model: 'model-a', dimension: 8 }),
        ),
      );
      t.pass('and all of them agreed on the embedding space');
    },
  );
} else {
  t.test('a second process cannot open an embedded database that is in use', async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'marquee-lock-'));
    t.teardown(() => rm(dataDir, { recursive: true, force: true }));
    const first = await connectDatabase({ kind: 'embedded', dataDir });
    // Another live process holds the lock: simulate it with our parent's pid.
    await first.close();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dataDir, 'marquee.lock'), String(process.ppid));
    await t.rejects(connectDatabase({ kind: 'embedded', dataDir }), DataDirInUseError);
    // A lock left by a process that is gone is taken over.
    await writeFile(join(dataDir, 'marquee.lock'), '999999999');
    const reopened = await connectDatabase({ kind: 'embedded', dataDir });
    await reopened.close();
    t.pass('a stale lock is taken over');
  });
}

t.test('the database remembers its embedding space and refuses another one', async (t) => {
  const database = await connectDatabase(await freshDatabaseConfig(t));
  t.teardown(() => database.close());
  await migrateToLatest(database.db);
  const space = { provider: 'local', model: 'model-a', dimension: 8 };
  await ensureEmbeddingSpace(database.db, space);
  await ensureEmbeddingSpace(database.db, space);
  t.pass('the same space is accepted again');

  const otherModel = ensureEmbeddingSpace(database.db, { ...space, model: 'model-b' });
  await t.rejects(otherModel, EmbeddingSpaceMismatchError);
  await t.rejects(
    ensureEmbeddingSpace(database.db, { ...space, provider: 'openai' }),
    { message: /local embedder, model "model-a".*openai embedder, model "model-a"/ },
    'another provider is another space',
  );
  await t.rejects(
    ensureEmbeddingSpace(database.db, { ...space, dimension: 16 }),
    { message: /model "model-a", dimension 8.*model "model-a", dimension 16/ },
    'the message names both spaces',
  );

  await database.db.insertInto('items').values({ id: 'i1', type: 'movie', title: 'T' }).execute();
  await database.db
    .insertInto('item_embeddings')
    .values({ item_id: 'i1', embedding: '[1,2,3,4,5,6,7,8]', content_hash: 'h' })
    .execute();
  await t.rejects(
    database.db
      .insertInto('item_embeddings')
      .values({ item_id: 'i1', embedding: '[1,2,3]', content_hash: 'h' })
      .onConflict((conflict) => conflict.column('item_id').doUpdateSet({ embedding: '[1,2,3]' }))
      .execute(),
    { message: /dimensions/ },
    'the vector column has the chosen dimension',
  );
  const index = await sql<{ indexdef: string }>`
    SELECT indexdef FROM pg_indexes WHERE indexname = 'item_embeddings_hnsw_idx'`.execute(database.db);
  t.match(index.rows[0]?.indexdef, /hnsw.*vector_cosine_ops/, 'an HNSW cosine index exists');
});
