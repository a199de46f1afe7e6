import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { ITEM_TEXT_COLUMNS, type ItemNeedingEmbedding } from './item-embeddings.repository.ts';
import { HNSW_INDEX_OPTIONS } from './vector-index.repository.ts';

// item_embeddings_next: where `marquee reembed` builds the next embedding space's vectors while
// item_embeddings keeps serving. A staged row is current when its content_hash equals its item's
// embedding_text_hash, exactly as for item_embeddings; the rows are stored with storeItemEmbeddings.

/**
 * Items whose staged vector is missing or was made from other text, in id order after `afterId`: one pass
 * over the catalog visits each item once, whatever the API writes meanwhile.
 */
export async function findItemsToStage(
  db: Kysely<Database>,
  limit: number,
  afterId: string | undefined,
): Promise<ItemNeedingEmbedding[]> {
  let query = db
    .selectFrom('items')
    .leftJoin('item_embeddings_next', 'item_embeddings_next.item_id', 'items.id')
    .select(ITEM_TEXT_COLUMNS)
    .where('items.embedding_text_hash', 'is not', null)
    .where(sql<boolean>`item_embeddings_next.content_hash IS DISTINCT FROM items.embedding_text_hash`);
  if (afterId !== undefined) query = query.where('items.id', '>', afterId);
  const rows = await query.orderBy('items.id').limit(limit).execute();
  return rows as ItemNeedingEmbedding[];
}

/** The items to embed (those with a text hash) and how many of them have a current staged vector. */
export async function countStagedItems(db: Kysely<Database>): Promise<{ items: number; staged: number }> {
  const row = await db
    .selectFrom('items')
    .leftJoin('item_embeddings_next', 'item_embeddings_next.item_id', 'items.id')
    .select([
      sql<string>`count(*)`.as('items'),
      sql<string>`count(*) FILTER (WHERE item_embeddings_next.content_hash = items.embedding_text_hash)`.as(
        'staged',
      ),
    ])
    .where('items.embedding_text_hash', 'is not', null)
    .executeTakeFirstOrThrow();
  return { items: Number(row.items), staged: Number(row.staged) };
}

/**
 * Empties the staging table and gives its vector column `dimension` (none: back to the untyped column of the
 * migration). Its HNSW index goes too: it is built once the bulk of the vectors is in.
 */
export async function resetStagingTable(db: Kysely<Database>, dimension: number | null): Promise<void> {
  await sql`DROP INDEX IF EXISTS item_embeddings_next_hnsw_idx`.execute(db);
  await sql`TRUNCATE item_embeddings_next`.execute(db);
  await sql`ALTER TABLE item_embeddings_next ALTER COLUMN embedding TYPE ${
    dimension === null ? sql`vector` : sql`vector(${sql.lit(dimension)})`
  }`.execute(db);
}

/**
 * Builds the staging table's HNSW index (same options as item_embeddings_hnsw_idx) without blocking writes
 * to it: items deleted through the API cascade there. Cannot run inside a transaction. A build that was
 * interrupted leaves an invalid index behind, which is dropped and built again.
 */
export async function buildStagedEmbeddingIndex(db: Kysely<Database>): Promise<void> {
  const existing = await sql<{ valid: boolean }>`
    SELECT indisvalid AS valid FROM pg_index
    WHERE indexrelid = to_regclass('item_embeddings_next_hnsw_idx')`.execute(db);
  if (existing.rows[0]?.valid) return;
  if (existing.rows[0]) await sql`DROP INDEX item_embeddings_next_hnsw_idx`.execute(db);
  await sql`CREATE INDEX CONCURRENTLY item_embeddings_next_hnsw_idx ON item_embeddings_next
    USING hnsw (embedding vector_cosine_ops) ${HNSW_INDEX_OPTIONS}`.execute(db);
}

/**
 * Makes the API's item writes wait until the transaction ends (reads go on), waiting at most `lockTimeout`
 * for writes under way: longer, and every later query would queue behind this lock.
 */
export async function holdItemWrites(trx: Kysely<Database>, lockTimeout: string): Promise<void> {
  await sql`SELECT set_config('lock_timeout', ${lockTimeout}, true)`.execute(trx);
  await sql`LOCK TABLE items IN SHARE MODE`.execute(trx);
}

/** Lock conflicts a swap retries after: lock_timeout ran out (55P03), or a deadlock was broken (40P01). */
export function isLockConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '55P03' || code === '40P01';
}

async function renameEmbeddingTable(trx: Kysely<Database>, from: string, to: string): Promise<void> {
  await sql`ALTER TABLE ${sql.table(from)} RENAME TO ${sql.table(to)}`.execute(trx);
  for (const suffix of ['pkey', 'item_id_fkey'])
    await sql`ALTER TABLE ${sql.table(to)} RENAME CONSTRAINT ${sql.ref(`${from}_${suffix}`)}
      TO ${sql.ref(`${to}_${suffix}`)}`.execute(trx);
}

/**
 * In the caller's transaction: the staged vectors (with their HNSW index) become item_embeddings, and the
 * former table, emptied and untyped, becomes the next staging table. Readers wait for the commit, then see
 * the new vectors; nothing is copied, so this takes milliseconds whatever the catalog's size.
 */
export async function swapStagedEmbeddings(trx: Kysely<Database>): Promise<void> {
  await sql`LOCK TABLE item_embeddings, item_embeddings_next IN ACCESS EXCLUSIVE MODE`.execute(trx);
  await sql`DROP INDEX IF EXISTS item_embeddings_hnsw_idx`.execute(trx);
  await renameEmbeddingTable(trx, 'item_embeddings', 'item_embeddings_retired');
  await renameEmbeddingTable(trx, 'item_embeddings_next', 'item_embeddings');
  await sql`ALTER INDEX item_embeddings_next_hnsw_idx RENAME TO item_embeddings_hnsw_idx`.execute(trx);
  await renameEmbeddingTable(trx, 'item_embeddings_retired', 'item_embeddings_next');
  await resetStagingTable(trx, null);
}
