import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.ts';
import type { EmbeddingSpace } from '../db/embedding-space.ts';
import { createItemEmbeddingsIndex } from './vector-index.repository.ts';

/** The embedding space item_embeddings holds. */
export const EMBEDDING_SPACE_KEY = 'embedding_space';
/** The space `marquee reembed` is filling item_embeddings_next with; absent when none is under way. */
export const NEXT_EMBEDDING_SPACE_KEY = 'embedding_space_next';

export async function getMetaValue(db: Kysely<Database>, key: string): Promise<unknown> {
  const row = await db.selectFrom('marquee_meta').select('value').where('key', '=', key).executeTakeFirst();
  return row?.value;
}

/** Writes a value only if the key is absent; returns the value stored afterwards (ours or an earlier one). */
export async function setMetaValueOnce(db: Kysely<Database>, key: string, value: unknown): Promise<unknown> {
  await db
    .insertInto('marquee_meta')
    .values({ key, value: JSON.stringify(value) })
    .onConflict((conflict) => conflict.column('key').doNothing())
    .execute();
  return getMetaValue(db, key);
}

export async function setMetaValue(db: Kysely<Database>, key: string, value: unknown): Promise<void> {
  await db
    .insertInto('marquee_meta')
    .values({ key, value: JSON.stringify(value) })
    .onConflict((conflict) =>
      conflict.column('key').doUpdateSet({ value: JSON.stringify(value), updated_at: sql<Date>`now()` }),
    )
    .execute();
}

export async function deleteMetaValue(db: Kysely<Database>, key: string): Promise<void> {
  await db.deleteFrom('marquee_meta').where('key', '=', key).execute();
}

/**
 * True while marquee_meta records `space` under `key` (extra fields in the value are ignored; a value without
 * a provider is from before providers were recorded, when the local embedder was the only one).
 */
export function metaRecordsEmbeddingSpace(key: string, space: EmbeddingSpace) {
  return sql<boolean>`EXISTS (
    SELECT 1 FROM marquee_meta
    WHERE key = ${key}
      AND coalesce(value->>'provider', 'local') = ${space.provider}
      AND value->>'model' = ${space.model}
      AND value->>'dimension' = ${String(space.dimension)})`;
}

/** Gives item_embeddings.embedding its fixed dimension and the HNSW index cosine searches use. */
export async function fixEmbeddingColumnDimension(db: Kysely<Database>, dimension: number): Promise<void> {
  // HNSW needs a fixed dimension.
  await sql`ALTER TABLE item_embeddings ALTER COLUMN embedding TYPE vector(${sql.lit(dimension)})`.execute(
    db,
  );
  await createItemEmbeddingsIndex(db);
}

export async function embeddingColumnDimension(
  db: Kysely<Database>,
  table: 'item_embeddings' | 'item_embeddings_next' = 'item_embeddings',
): Promise<number | null> {
  // atttypmod holds the declared dimension of a vector column, -1 when none was declared.
  const result = await sql<{ dimension: number }>`
    SELECT atttypmod AS dimension FROM pg_attribute
    WHERE attrelid = ${table}::regclass AND attname = 'embedding'`.execute(db);
  const dimension = result.rows[0]?.dimension ?? -1;
  return dimension > 0 ? dimension : null;
}
