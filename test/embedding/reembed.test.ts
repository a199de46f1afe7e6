import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { InjectOptions } from 'fastify';
import { sql } from 'kysely';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { buildApp } from '../../src/app.ts';
import { createMemoryCache } from '../../src/cache/memory-cache.ts';
import type { Config } from '../../src/config.ts';
import { connectDatabase } from '../../src/db/connect.ts';
import {
  EmbeddingSpaceMismatchError,
  ensureEmbeddingSpace,
  readEmbeddingSpace,
} from '../../src/db/embedding-space.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { embedPendingItems } from '../../src/embedding/embed-pending.ts';
import type { Embedder } from '../../src/embedding/embedder.ts';
import { embeddableFromRow, itemEmbeddingText } from '../../src/embedding/item-text.ts';
import { createLocalEmbedder } from '../../src/embedding/local-embedder.ts';
import { reembedCatalog, ReembedInProgressError, type ReembedOptions } from '../../src/embedding/reembed.ts';
import {
  findItemsNeedingEmbedding,
  storeItemEmbeddings,
} from '../../src/repositories/item-embeddings.repository.ts';
import {
  embeddingColumnDimension,
  NEXT_EMBEDDING_SPACE_KEY,
} from '../../src/repositories/meta.repository.ts';
import { CLI } from '../helpers/spawn-server.ts';
import { asAdmin, freshDatabaseConfig, json, testConfig } from '../helpers/test-app.ts';

const run = promisify(execFile);
const OLD_SPACE = { provider: 'local', model: 'marquee-local-v1', dimension: 256 };
const NEW_SPACE = { ...OLD_SPACE, dimension: 192 };

const TITLES = [
  'Alien',
  'Aliens',
  'The Thing',
  'Heat',
  'Ronin',
  'The Italian Job',
  'Ocean’s Eleven',
  'Inside Man',
  'Paddington',
  'Ratatouille',
  'Chef',
  'Julie & Julia',
  'The Godfather',
  'Goodfellas',
  'Casino',
  'Amélie',
  'Notting Hill',
  'Love Actually',
  'Blade Runner',
  'Arrival',
  'Interstellar',
  'Gravity',
  'Apollo 13',
  'The Martian',
  'Jaws',
  'Psycho',
  'Vertigo',
  'Rear Window',
  'Spirited Away',
  'Totoro',
];
const GENRES = ['horror', 'science fiction', 'crime', 'family', 'drama', 'romance'];
const itemId = (index: number) => `item-${String(index + 1).padStart(2, '0')}`;

/** An embedder that counts the texts it embeds and can act on each call (before embedding). */
function instrument(inner: Embedder, onCall: (call: number) => Promise<void> | void = () => {}) {
  const counts = { calls: 0, texts: 0 };
  const embedder: Embedder = {
    space: inner.space,
    embed: async (texts, options) => {
      counts.calls += 1;
      counts.texts += texts.length;
      await onCall(counts.calls);
      return inner.embed(texts, options);
    },
  };
  return { embedder, counts };
}

/**
 * The API with the old configuration on a fresh database holding a 30-item catalog, embedded. `reembedDb`
 * is what a separate `marquee reembed` process would use: its own connections in served mode; in embedded
 * mode the database has a single connection, shared.
 */
async function catalogApp(t: Test, env: Record<string, string> = {}) {
  const databaseConfig = await freshDatabaseConfig(t);
  const config: Config = { ...testConfig(env), database: databaseConfig };
  const database = await connectDatabase(databaseConfig);
  await migrateToLatest(database.db);
  await ensureEmbeddingSpace(database.db, config.embedding);
  const logs: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => logs.push(line) });
  const app = await buildApp({ config, database, cache: createMemoryCache(), logger });
  t.teardown(() => app.close());
  await app.ready();
  const inject = (options: InjectOptions) => app.inject(asAdmin(options));
  for (const [index, title] of TITLES.entries()) {
    const response = await inject({
      method: 'PUT',
      url: `/v1/items/${itemId(index)}`,
      ...json({ type: 'movie', title, genres: [GENRES[index % GENRES.length]] }),
    });
    t.equal(response.statusCode, 201);
  }
  await app.embedding.idle();
  let reembedDb = database.db;
  if (databaseConfig.kind === 'postgres') {
    const separate = await connectDatabase(databaseConfig);
    t.teardown(() => separate.close());
    reembedDb = separate.db;
  }
  return { app, inject, db: database.db, reembedDb, logs, config, databaseConfig };
}

const vectorDimensions = async (db: Awaited<ReturnType<typeof catalogApp>>['db']) =>
  (
    await sql<{ item_id: string; dims: number }>`
      SELECT item_id, vector_dims(embedding) AS dims FROM item_embeddings ORDER BY item_id`.execute(db)
  ).rows;

t.test('reembed moves the catalog to 192 dimensions while the old API keeps serving', async (t) => {
  const { app, inject, db, reembedDb, logs, config } = await catalogApp(t);
  const newEmbedder = await createLocalEmbedder(NEW_SPACE);
  const during: { listed?: number } = {};
  const { embedder, counts } = instrument(newEmbedder, async (call) => {
    if (call !== 1) return;
    // While the first chunk is being embedded: the old API reads, updates, creates and deletes items.
    const list = await inject({ method: 'GET', url: '/v1/items?limit=100' });
    t.equal(list.statusCode, 200, 'GET /v1/items is served during the reembed');
    during.listed = list.json<{ items: unknown[] }>().items.length;
    await inject({
      method: 'PATCH',
      url: `/v1/items/${itemId(2)}`,
      headers: { 'content-type': 'application/merge-patch+json' },
      payload: JSON.stringify({ description: 'An Antarctic research station is hunted by a shapeshifter.' }),
    });
    await inject({ method: 'PUT', url: '/v1/items/item-31', ...json({ type: 'movie', title: 'Solaris' }) });
    await inject({ method: 'DELETE', url: `/v1/items/${itemId(6)}` });
    await app.embedding.idle();
  });
  const progress: string[] = [];
  const started = performance.now();
  const result = await reembedCatalog(reembedDb, embedder, config.embedding.fields, {
    chunkSize: 10,
    onProgress: ({ phase }) => progress.push(phase),
  });
  t.comment(`reembed of 30 items: ${Math.round(performance.now() - started)} ms`);
  t.equal(during.listed, 30);
  t.match(result, { outcome: 'swapped', from: OLD_SPACE, to: NEW_SPACE, items: 30, reused: 0 });
  if (result.outcome !== 'swapped') return;
  t.equal(result.embedded, 30, 'every item staged once');
  t.equal(
    counts.texts,
    32,
    'texts sent: the 30 items, plus the updated and the deleted one, both refused in their first chunk',
  );
  t.same([...new Set(progress)], ['embedding', 'indexing', 'catching up', 'swapping']);

  const dimensions = await vectorDimensions(db);
  t.equal(dimensions.length, 30, 'one vector per item (the deleted one gone, the created one there)');
  t.ok(
    dimensions.every((row) => row.dims === 192),
    'every vector has 192 dimensions',
  );
  t.ok(dimensions.some((row) => row.item_id === 'item-31'));
  t.notOk(dimensions.some((row) => row.item_id === itemId(6)));
  t.equal(await embeddingColumnDimension(db), 192, 'the column is vector(192)');
  t.same(await readEmbeddingSpace(db), NEW_SPACE, 'the meta records the new space');
  t.equal(await readEmbeddingSpace(db, NEXT_EMBEDDING_SPACE_KEY), undefined, 'no reembed under way');
  t.equal(await embeddingColumnDimension(db, 'item_embeddings_next'), null, 'the staging table is reset');
  const staged = await db.selectFrom('item_embeddings_next').select('item_id').execute();
  t.equal(staged.length, 0, 'and empty');
  t.same(await findItemsNeedingEmbedding(db, 100), [], 'no item is pending after the swap');

  const updated = await db
    .selectFrom('items')
    .selectAll()
    .where('id', '=', itemId(2))
    .executeTakeFirstOrThrow();
  const [expected] = await newEmbedder.embed([
    itemEmbeddingText(embeddableFromRow(updated), config.embedding.fields),
  ]);
  const stored = await sql<{ embedding: string }>`
    SELECT embedding::text AS embedding FROM item_embeddings WHERE item_id = ${itemId(2)}`.execute(db);
  const storedVector = JSON.parse(stored.rows[0]?.embedding ?? '[]') as number[];
  t.ok(
    storedVector.every((value, index) => Math.abs(value - (expected?.[index] ?? 0)) < 1e-6),
    'the item updated during the reembed has the vector of its new text',
  );

  await t.rejects(
    ensureEmbeddingSpace(db, OLD_SPACE),
    EmbeddingSpaceMismatchError,
    'opening with the old configuration is refused',
  );
  await ensureEmbeddingSpace(db, NEW_SPACE);
  t.pass('opening with the new configuration is accepted');

  const nearest = await sql<{ item_id: string }>`
    SELECT item_id FROM item_embeddings
    ORDER BY embedding <=> (SELECT embedding FROM item_embeddings WHERE item_id = ${itemId(0)})
    LIMIT 3`.execute(db);
  t.equal(nearest.rows[0]?.item_id, itemId(0), 'an item is its own nearest neighbour');
  const plan = await db.transaction().execute(async (trx) => {
    await sql`SET LOCAL enable_seqscan = off`.execute(trx);
    return sql<{ 'QUERY PLAN': string }>`
      EXPLAIN SELECT item_id FROM item_embeddings
      ORDER BY embedding <=> (SELECT embedding FROM item_embeddings WHERE item_id = ${itemId(0)})
      LIMIT 3`.execute(trx);
  });
  t.match(
    plan.rows.map((row) => row['QUERY PLAN']).join('\n'),
    /Index Scan using item_embeddings_hnsw_idx/,
    'the query uses the new HNSW index',
  );

  // The old API, still running: its writes work, its embeddings are refused with a warning, items stay pending.
  const put = await inject({
    method: 'PUT',
    url: `/v1/items/${itemId(0)}`,
    ...json({ type: 'movie', title: 'Alien: Director’s Cut' }),
  });
  t.equal(put.statusCode, 200);
  await app.embedding.idle();
  const warnings = logs.map(
    (line) => JSON.parse(line) as { level: number; msg: string; err?: { type: string } },
  );
  t.ok(
    warnings.some(
      (line) =>
        line.level === 40 &&
        line.msg === 'background embedding failed; the items stay pending' &&
        line.err?.type === 'EmbeddingSpaceChangedError',
    ),
    'the old API logs a warning',
  );
  t.same(
    (await findItemsNeedingEmbedding(db, 100)).map((item) => item.id),
    [itemId(0)],
    'the item it wrote is pending',
  );
  t.equal(
    (await inject({ method: 'GET', url: '/v1/items?limit=100' })).statusCode,
    200,
    'and it still serves',
  );
  const embedded = await embedPendingItems(db, newEmbedder, {
    space: NEW_SPACE,
    fields: config.embedding.fields,
  });
  t.equal(embedded, 1, 'a process with the new configuration embeds it');
  t.ok((await vectorDimensions(db)).every((row) => row.dims === 192));
});

t.test('an interrupted reembed resumes without embedding staged items again', async (t) => {
  const { inject, db, reembedDb, config } = await catalogApp(t);
  const newEmbedder = await createLocalEmbedder(NEW_SPACE);
  const stopping = new AbortController();
  const first = instrument(newEmbedder, () => stopping.abort());
  const options: ReembedOptions = { chunkSize: 10 };
  const interrupted = await reembedCatalog(reembedDb, first.embedder, config.embedding.fields, {
    ...options,
    signal: stopping.signal,
  });
  t.match(interrupted, { outcome: 'interrupted', embedded: 10 }, 'stopped after the first chunk');
  t.same(await readEmbeddingSpace(db, NEXT_EMBEDDING_SPACE_KEY), NEW_SPACE, 'the reembed is under way');
  await ensureEmbeddingSpace(db, OLD_SPACE);
  t.pass('the old configuration is still the database’s');
  t.equal((await inject({ method: 'GET', url: '/v1/items/item-01' })).statusCode, 200);

  const other = await createLocalEmbedder({ ...OLD_SPACE, dimension: 160 });
  await t.rejects(
    reembedCatalog(reembedDb, other, config.embedding.fields, options),
    ReembedInProgressError,
    'a reembed to another space is refused while one is unfinished',
  );
  t.match(await reembedCatalog(reembedDb, newEmbedder, config.embedding.fields, { dryRun: true }), {
    outcome: 'planned',
    plan: { start: 'resume', items: 30, staged: 10 },
  });

  const second = instrument(newEmbedder);
  const resumed = await reembedCatalog(reembedDb, second.embedder, config.embedding.fields, options);
  t.match(resumed, { outcome: 'swapped', items: 30, embedded: 20, reused: 10 });
  t.equal(second.counts.texts, 20, 'the 10 staged items were not embedded again');
  t.ok((await vectorDimensions(db)).every((row) => row.dims === 192));

  // --restart abandons an unfinished reembed to another space.
  const toStop = new AbortController();
  const abandoned = instrument(await createLocalEmbedder({ ...OLD_SPACE, dimension: 224 }), () =>
    toStop.abort(),
  );
  await reembedCatalog(reembedDb, abandoned.embedder, config.embedding.fields, {
    ...options,
    signal: toStop.signal,
  });
  const restarted = await reembedCatalog(reembedDb, other, config.embedding.fields, {
    ...options,
    restart: true,
  });
  t.match(restarted, { outcome: 'swapped', items: 30, embedded: 30, reused: 0 });
  t.ok((await vectorDimensions(db)).every((row) => row.dims === 160));
});

t.test('nothing to do for the same space; a dry run changes nothing', async (t) => {
  const { db, reembedDb, config } = await catalogApp(t);
  const same = instrument(await createLocalEmbedder(OLD_SPACE));
  t.match(await reembedCatalog(reembedDb, same.embedder, config.embedding.fields), {
    outcome: 'nothing to do',
    space: OLD_SPACE,
  });
  const dryRun = instrument(await createLocalEmbedder(NEW_SPACE));
  t.match(await reembedCatalog(reembedDb, dryRun.embedder, config.embedding.fields, { dryRun: true }), {
    outcome: 'planned',
    plan: { from: OLD_SPACE, to: NEW_SPACE, start: 'new', items: 30, staged: 0 },
  });
  t.equal(same.counts.texts + dryRun.counts.texts, 0, 'nothing embedded');
  t.equal(await readEmbeddingSpace(db, NEXT_EMBEDDING_SPACE_KEY), undefined);
  t.ok((await vectorDimensions(db)).every((row) => row.dims === 256));
});

t.test('after a move to another model of the same dimension, the old API stores nothing', async (t) => {
  const { inject, app, db, reembedDb, logs, config } = await catalogApp(t);
  const nextModel = { ...OLD_SPACE, model: 'marquee-local-v2' };
  t.match(await reembedCatalog(reembedDb, await createLocalEmbedder(nextModel), config.embedding.fields), {
    outcome: 'swapped',
    items: 30,
    embedded: 30,
  });
  const before = await db.selectFrom('item_embeddings').selectAll().orderBy('item_id').execute();
  await inject({ method: 'PUT', url: `/v1/items/${itemId(3)}`, ...json({ type: 'movie', title: 'Heat 2' }) });
  await app.embedding.idle();
  t.match(logs.join(''), /background embedding failed/);
  const oldEmbedder = await createLocalEmbedder(OLD_SPACE);
  const [vector] = await oldEmbedder.embed(['Title: Heat 2']);
  const pending = await findItemsNeedingEmbedding(db, 10);
  t.equal(
    await storeItemEmbeddings(db, OLD_SPACE, [
      { itemId: itemId(3), embedding: vector!, contentHash: pending[0]!.embedding_text_hash },
    ]),
    0,
    'a vector of the old model is refused even though its dimension fits',
  );
  t.same(
    await db.selectFrom('item_embeddings').selectAll().orderBy('item_id').execute(),
    before,
    'the vectors are untouched',
  );
});

t.test('marquee reembed on the command line', async (t) => {
  const databaseConfig = await freshDatabaseConfig(t);
  const dataDir = await mkdtemp(join(tmpdir(), 'marquee-reembed-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const location =
    databaseConfig.kind === 'postgres' ? { DATABASE_URL: databaseConfig.url } : { MARQUEE_DATA_DIR: dataDir };
  const config: Config = {
    ...testConfig(),
    database: databaseConfig.kind === 'postgres' ? databaseConfig : { kind: 'embedded', dataDir },
  };
  const database = await connectDatabase(config.database);
  await migrateToLatest(database.db);
  await ensureEmbeddingSpace(database.db, config.embedding);
  const app = await buildApp({ config, database, cache: createMemoryCache() });
  for (const [index, title] of TITLES.slice(0, 5).entries())
    await app.inject(
      asAdmin({ method: 'PUT', url: `/v1/items/${itemId(index)}`, ...json({ type: 'movie', title }) }),
    );
  await app.embedding.idle();
  await app.close();

  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...location };
  const reembed = (args: string[], extra: Record<string, string> = {}) =>
    run(process.execPath, [CLI, 'reembed', ...args], { env: { ...env, ...extra } });
  const planned = await reembed(['--dry-run'], { MARQUEE_EMBEDDING_DIMENSION: '192' });
  t.match(planned.stderr, /would move 5 items from .*dimension 256 to .*dimension 192/);

  const started = performance.now();
  const moved = await reembed([], { MARQUEE_EMBEDDING_DIMENSION: '192' });
  t.comment(`marquee reembed of 5 items: ${Math.round(performance.now() - started)} ms`);
  t.match(
    moved.stderr,
    /moved 5 items to the local embedder, model "marquee-local-v1", dimension 192: 5 embedded/,
  );
  t.match(moved.stderr, /restart every API replica and worker with .*MARQUEE_EMBEDDING_DIMENSION=192/i);
  t.match(JSON.parse(moved.stdout), { outcome: 'swapped', items: 5, embedded: 5 });
});
