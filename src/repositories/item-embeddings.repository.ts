import { type Kysely, sql } from 'kysely';
import { cosineDistance } from 'pgvector/kysely';
import type { Credit, Database } from '../db/database.ts';
import type { EmbeddingSpace } from '../db/embedding-space.ts';
import {
  EMBEDDING_SPACE_KEY,
  metaRecordsEmbeddingSpace,
  NEXT_EMBEDDING_SPACE_KEY,
} from './meta.repository.ts';

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

/** What an item's embedding is made from (see src/embedding/item-text.ts), with its id and text hash. */
export const ITEM_TEXT_COLUMNS = [
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
] as const;

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
    .select(ITEM_TEXT_COLUMNS)
    .where('items.embedding_text_hash', 'is not', null)
    .where(sql<boolean>`item_embeddings.content_hash IS DISTINCT FROM items.embedding_text_hash`);
  if (ids) query = query.where('items.id', 'in', [...ids]);
  const rows = await query.orderBy('items.updated_at').orderBy('items.id').limit(limit).execute();
  return rows as ItemNeedingEmbedding[];
}

/**
 * Of these items, those whose embedding is missing or was made from other text, with the hash of the text
 * they hold now: for a caller that has the texts already (an import batch, from its records).
 */
export async function findItemHashesNeedingEmbedding(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<{ id: string; embeddingTextHash: string }[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('items')
    .leftJoin('item_embeddings', 'item_embeddings.item_id', 'items.id')
    .select(['items.id', 'items.embedding_text_hash'])
    .where('items.id', '=', sql<string>`ANY(${[...ids]}::text[])`)
    .where(sql<boolean>`item_embeddings.content_hash IS DISTINCT FROM items.embedding_text_hash`)
    .execute();
  return rows.flatMap((row) =>
    row.embedding_text_hash === null ? [] : [{ id: row.id, embeddingTextHash: row.embedding_text_hash }],
  );
}

/**
 * A vector as a query parameter in pgvector's binary format (int16 dimension, int16 zero, then float4s, all
 * big-endian). node-postgres and the embedded database's worker send a Buffer in binary, so Postgres takes
 * the floats as they are instead of parsing decimal text: in the embedded database (WASM) that parsing was
 * most of an import's time to store vectors (netflix catalog: 8.2 s, against 1.0 s in binary).
 */
function vectorParameter(vector: Float32Array): Buffer {
  const buffer = Buffer.allocUnsafe(4 + 4 * vector.length);
  buffer.writeInt16BE(vector.length, 0);
  buffer.writeInt16BE(0, 2);
  for (let index = 0; index < vector.length; index++) buffer.writeFloatBE(vector[index] ?? 0, 4 + 4 * index);
  return buffer;
}

/** The serving vectors, or the next space's that `marquee reembed` is building; see meta.repository.ts. */
export type ItemEmbeddingsTableName = 'item_embeddings' | 'item_embeddings_next';
const SPACE_KEY_OF_TABLE: Record<ItemEmbeddingsTableName, string> = {
  item_embeddings: EMBEDDING_SPACE_KEY,
  item_embeddings_next: NEXT_EMBEDDING_SPACE_KEY,
};

/**
 * Stores embeddings made in `space`, each only if its item still has the text it was made from (an item
 * changed meanwhile stays pending), and none if the table no longer belongs to that space (a process still
 * running with the old embedder after `marquee reembed`). Returns how many were stored.
 */
export async function storeItemEmbeddings(
  db: Kysely<Database>,
  space: EmbeddingSpace,
  rows: readonly { itemId: string; embedding: Float32Array; contentHash: string }[],
  table: ItemEmbeddingsTableName = 'item_embeddings',
): Promise<number> {
  if (rows.length === 0) return 0;
  const values = sql.join(
    rows.map(
      (row) =>
        sql`(${row.itemId}::text, ${vectorParameter(row.embedding)}::vector, ${row.contentHash}::text)`,
    ),
  );
  // MATERIALIZED keeps the values out of the plan: folded into it, a vector of another dimension would fail
  // the cast to the column's type before the space check could discard it.
  const result = await sql<{ item_id: string }>`
    WITH fresh (item_id, embedding, content_hash) AS MATERIALIZED (VALUES ${values})
    INSERT INTO ${sql.table(table)} (item_id, embedding, content_hash)
    SELECT fresh.item_id, fresh.embedding, fresh.content_hash
    FROM fresh
    JOIN items ON items.id = fresh.item_id AND items.embedding_text_hash = fresh.content_hash
    WHERE ${metaRecordsEmbeddingSpace(SPACE_KEY_OF_TABLE[table], space)}
    ON CONFLICT (item_id) DO UPDATE
      SET embedding = EXCLUDED.embedding, content_hash = EXCLUDED.content_hash, embedded_at = now()
    RETURNING item_id`.execute(db);
  return result.rows.length;
}

export interface NearestItemsFilter {
  /** How many items to return. */
  limit: number;
  /** Items never to return, e.g. the one the search is about or those a user has seen. */
  excludeIds?: readonly string[] | undefined;
  /** Only items of this type. */
  type?: string | undefined;
  /** Only items with at least one of these genres. */
  genresAny?: readonly string[] | undefined;
}

/**
 * The items whose embeddings are nearest to `vector` by cosine distance (0 same direction, 2 opposite),
 * nearest first: `nearestItemsQuery(...).execute()`. Served by the HNSW index: approximate, and with filters
 * complete thanks to the iterative scan set on every connection (see vector-index.repository.ts), up to its
 * hnsw.max_scan_tuples bound.
 */
export async function findNearestItemIds(
  db: Kysely<Database>,
  vector: Float32Array | readonly number[],
  filter: NearestItemsFilter,
): Promise<{ itemId: string; distance: number }[]> {
  return nearestItemsQuery(db, vector, filter).execute();
}

/** The query findNearestItemIds runs, for callers that need it as a builder (EXPLAIN, composition). */
export function nearestItemsQuery(
  db: Kysely<Database>,
  vector: Float32Array | readonly number[],
  filter: NearestItemsFilter,
) {
  const { excludeIds = [], type, genresAny } = filter;
  const distance = cosineDistance('item_embeddings.embedding', Array.from(vector));
  const nearest = db
    .selectFrom('item_embeddings')
    .innerJoin('items', 'items.id', 'item_embeddings.item_id')
    .select(['item_embeddings.item_id as itemId', sql<number>`${distance}`.as('distance')])
    .$if(excludeIds.length > 0, (query) =>
      query.where(sql<boolean>`item_embeddings.item_id <> ALL(${[...excludeIds]}::text[])`),
    )
    .$if(type !== undefined, (query) => query.where('items.type', '=', type ?? ''))
    .$if(genresAny !== undefined, (query) =>
      query.where(sql<boolean>`items.genres && ${[...(genresAny ?? [])]}::text[]`),
    )
    // Ordered by the distance expression itself, which is what lets the planner walk the index.
    .orderBy('distance')
    .limit(filter.limit);
  // An iterative scan in relaxed order can return a result slightly after a nearer one: sort the page again,
  // outside the index scan (MATERIALIZED keeps the planner from merging the two).
  return db
    .with(
      (cte) => cte('nearest').materialized(),
      () => nearest,
    )
    .selectFrom('nearest')
    .selectAll()
    .orderBy('distance');
}
