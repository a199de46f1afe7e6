import { type Kysely, sql } from 'kysely';
import pgvector from 'pgvector';
import type { Credit, Database } from '../db/database.ts';

export interface ItemNeedingEmbedding {
  id: string;
  title: string;
  type: string;
  genres: string[];
  tags: string[];
  credits: Credit[];
  description: string | null;
  language: string | null;
  release_year: number | null;
  maturity_rating: string | null;
  regions: string[];
  embedding_text_hash: string;
}

/** Items whose embedding is missing or was made from other text, oldest change first. */
export async function findItemsNeedingEmbedding(
  db: Kysely<Database>,
  limit: number,
  ids?: readonly string[],
): Promise<ItemNeedingEmbedding[]> {
  if (ids && ids.length === 0) return [];
  let query = db
    .selectFrom('items')
    .leftJoin('item_embeddings', 'item_embeddings.item_id', 'items.id')
    .select([
      'items.id',
      'items.title',
      'items.type',
      'items.genres',
      'items.tags',
      'items.credits',
      'items.description',
      'items.language',
      'items.release_year',
      'items.maturity_rating',
      'items.regions',
      'items.embedding_text_hash',
    ])
    .where('items.embedding_text_hash', 'is not', null)
    .where(sql<boolean>`item_embeddings.content_hash IS DISTINCT FROM items.embedding_text_hash`);
  if (ids) query = query.where('items.id', 'in', [...ids]);
  const rows = await query.orderBy('items.updated_at').orderBy('items.id').limit(limit).execute();
  return rows as ItemNeedingEmbedding[];
}

/**
 * Stores embeddings, each only if its item still has the text it was made from (an item changed meanwhile
 * stays pending). Returns how many were stored.
 */
export async function storeItemEmbeddings(
  db: Kysely<Database>,
  rows: readonly { itemId: string; embedding: Float32Array; contentHash: string }[],
): Promise<number> {
  if (rows.length === 0) return 0;
  const values = sql.join(
    rows.map(
      (row) =>
        sql`(${row.itemId}::text, ${pgvector.toSql(Array.from(row.embedding))}::vector, ${row.contentHash}::text)`,
    ),
  );
  const result = await sql<{ item_id: string }>`
    INSERT INTO item_embeddings (item_id, embedding, content_hash)
    SELECT fresh.item_id, fresh.embedding, fresh.content_hash
    FROM (VALUES ${values}) AS fresh (item_id, embedding, content_hash)
    JOIN items ON items.id = fresh.item_id AND items.embedding_text_hash = fresh.content_hash
    ON CONFLICT (item_id) DO UPDATE
      SET embedding = EXCLUDED.embedding, content_hash = EXCLUDED.content_hash, embedded_at = now()
    RETURNING item_id`.execute(db);
  return result.rows.length;
}
