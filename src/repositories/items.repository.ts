import { type Kysely, sql } from 'kysely';
import type { Database, ItemRow, NewItemRow } from '../db/database.ts';

export async function findItemById(db: Kysely<Database>, id: string): Promise<ItemRow | undefined> {
  return db.selectFrom('items').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The row, locked until the end of the transaction `db` belongs to (read-modify-write). */
export async function findItemByIdForUpdate(db: Kysely<Database>, id: string): Promise<ItemRow | undefined> {
  return db.selectFrom('items').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** The stored items among these ids, locked for update (an import merging into them), in id order. */
export async function findItemsByIdsForUpdate(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<ItemRow[]> {
  if (ids.length === 0) return [];
  // In id order, as every batch locks them: two batches never wait on each other in a cycle.
  return db.selectFrom('items').selectAll().where('id', 'in', ids).orderBy('id').forUpdate().execute();
}

/** Inserts or fully replaces an item, keeping its created_at. Tells whether the row was new. */
export async function upsertItem(
  db: Kysely<Database>,
  row: NewItemRow,
): Promise<{ item: ItemRow; created: boolean }> {
  const { id: _id, created_at: _createdAt, ...replaceable } = row;
  const result = await db
    .insertInto('items')
    .values(row)
    .onConflict((conflict) =>
      conflict.column('id').doUpdateSet({ ...replaceable, updated_at: sql<Date>`now()` }),
    )
    // xmax is 0 on a freshly inserted row version and non-zero on one written by ON CONFLICT DO UPDATE.
    .returningAll()
    .returning(sql<boolean>`(xmax = 0)`.as('created'))
    .executeTakeFirstOrThrow();
  const { created, ...item } = result;
  return { item, created };
}

export async function deleteItem(db: Kysely<Database>, id: string): Promise<boolean> {
  const result = await db.deleteFrom('items').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export interface ItemListFilter {
  limit: number;
  afterId?: string | undefined;
  type?: string | undefined;
  genre?: string | undefined;
  updatedSince?: string | undefined;
}

/** A page of items in id order (keyset pagination: stable under concurrent writes, no OFFSET scans). */
export async function listItems(db: Kysely<Database>, filter: ItemListFilter): Promise<ItemRow[]> {
  let query = db.selectFrom('items').selectAll().orderBy('id').limit(filter.limit);
  if (filter.afterId !== undefined) query = query.where('id', '>', filter.afterId);
  if (filter.type !== undefined) query = query.where('type', '=', filter.type);
  if (filter.genre !== undefined) query = query.where(sql<boolean>`genres @> ARRAY[${filter.genre}]::text[]`);
  if (filter.updatedSince !== undefined)
    query = query.where('updated_at', '>=', new Date(filter.updatedSince));
  return query.execute();
}

/** Which of these ids are items of the catalog. */
export async function findExistingItemIds(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .selectFrom('items')
    .select('id')
    .where('id', '=', sql<string>`ANY(${[...ids]}::text[])`)
    .execute();
  return new Set(rows.map((row) => row.id));
}

/** The titles, as stored, of items whose lower-cased title is one of `lowerTitles` (index items_title_lower_idx). */
export async function findTitlesAmong(
  db: Kysely<Database>,
  lowerTitles: readonly string[],
): Promise<string[]> {
  if (lowerTitles.length === 0) return [];
  const rows = await db
    .selectFrom('items')
    .select('title')
    .distinct()
    .where(sql<string>`lower(title)`, '=', sql<string>`ANY(${[...lowerTitles]}::text[])`)
    .execute();
  return rows.map((row) => row.title);
}

/** What explanations may say of the items they cite: title, genres, tags, credits and description. */
export async function findEvidenceItems(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<
  Map<
    string,
    {
      title: string;
      genres: string[];
      tags: string[];
      credits: { name: string; role: string }[];
      description: string | null;
    }
  >
> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom('items')
    .select(['id', 'title', 'genres', 'tags', 'credits', 'description'])
    .where('id', '=', sql<string>`ANY(${[...ids]}::text[])`)
    .execute();
  return new Map(rows.map(({ id, ...evidence }) => [id, evidence]));
}
