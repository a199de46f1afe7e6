import { type Kysely, type SqlBool, sql } from 'kysely';
import { cosineDistance } from 'pgvector/kysely';
import type { Database } from '../db/database.ts';
import type { ItemFilters } from '../recommender/item-filters.ts';
import { itemFilterCondition } from './item-filters.repository.ts';

/** The catalog's distinct genre labels with how many items carry each, most used first. */
export async function findGenreCounts(
  db: Kysely<Database>,
  limit: number,
): Promise<{ label: string; count: number }[]> {
  const rows = await sql<{ label: string; count: string | number }>`
    SELECT genre AS label, count(*) AS count
    FROM items CROSS JOIN LATERAL unnest(items.genres) AS genre
    GROUP BY genre
    ORDER BY count(*) DESC, genre
    LIMIT ${limit}::int`.execute(db);
  return rows.rows.map((row) => ({ label: row.label, count: Number(row.count) }));
}

/** The catalog's distinct original languages (BCP 47 tags as stored) with their item counts. */
export async function findLanguageCounts(db: Kysely<Database>): Promise<{ tag: string; count: number }[]> {
  const rows = await db
    .selectFrom('items')
    .select(['language', (eb) => eb.fn.countAll<string | number>().as('count')])
    .where('language', 'is not', null)
    .groupBy('language')
    .orderBy('language')
    .execute();
  return rows.map((row) => ({ tag: row.language!, count: Number(row.count) }));
}

/**
 * The items that carry a genre of every group and obey the filters, nearest to `vector` first (items not
 * embedded yet last), newest first without one: what a request combining genres offers ("funny sci-fi": a
 * comedy label and a sci-fi label), which ItemFilters, with one "any of" list, cannot say. An exact scan of
 * the combination, which is a small part of a catalog.
 */
export async function findItemsWithGenreOfEach(
  db: Kysely<Database>,
  groups: readonly (readonly string[])[],
  vector: Float32Array | undefined,
  query: { limit: number; filters: ItemFilters; excludeIds: readonly string[]; now?: Date | undefined },
): Promise<{ itemId: string; similarity: number | undefined }[]> {
  if (groups.length === 0 || groups.some((group) => group.length === 0)) return [];
  const distance = vector
    ? sql<number | null>`${cosineDistance('item_embeddings.embedding', Array.from(vector))}`
    : sql<number | null>`NULL`;
  let select = db
    .selectFrom('items')
    .leftJoin('item_embeddings', 'item_embeddings.item_id', 'items.id')
    .select(['items.id as itemId', distance.as('distance')])
    .where(itemFilterCondition(query.filters, query.now));
  for (const group of groups) select = select.where(sql<SqlBool>`items.genres && ${[...group]}::text[]`);
  if (query.excludeIds.length > 0)
    select = select.where(sql<SqlBool>`items.id <> ALL(${[...query.excludeIds]}::text[])`);
  const rows = await (
    vector
      ? select.orderBy(sql`distance ASC NULLS LAST`)
      : select.orderBy(sql`items.release_year DESC NULLS LAST`)
  )
    .orderBy('items.id')
    .limit(query.limit)
    .execute();
  return rows.map((row) => ({
    itemId: row.itemId,
    similarity: row.distance === null ? undefined : 1 - Number(row.distance),
  }));
}
