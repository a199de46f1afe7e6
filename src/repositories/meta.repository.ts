import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.ts';

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

/** Gives item_embeddings.embedding its fixed dimension and the HNSW index cosine searches use. */
export async function fixEmbeddingColumnDimension(db: Kysely<Database>, dimension: number): Promise<void> {
  // HNSW needs a fixed dimension. Defaults m=16, ef_construction=64 (pgvector): a good recall/build-time
  // balance up to millions of rows; tune later with a reindex.
  await sql`ALTER TABLE item_embeddings ALTER COLUMN embedding TYPE vector(${sql.lit(dimension)})`.execute(
    db,
  );
  await sql`CREATE INDEX IF NOT EXISTS item_embeddings_hnsw_idx ON item_embeddings
    USING hnsw (embedding vector_cosine_ops)`.execute(db);
}

export async function embeddingColumnDimension(db: Kysely<Database>): Promise<number | null> {
  // atttypmod holds the declared dimension of a vector column, -1 when none was declared.
  const result = await sql<{ dimension: number }>`
    SELECT atttypmod AS dimension FROM pg_attribute
    WHERE attrelid = 'item_embeddings'::regclass AND attname = 'embedding'`.execute(db);
  const dimension = result.rows[0]?.dimension ?? -1;
  return dimension > 0 ? dimension : null;
}
