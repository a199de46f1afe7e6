import { type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.ts';
import type { ItemFilters } from '../recommender/item-filters.ts';
import { itemFilterCondition } from './item-filters.repository.ts';
import { keysetPages } from './keyset-pages.ts';

export interface TextMatch {
  itemId: string;
  title: string;
  /** ts_rank_cd of the whole document: cover density, title words weigh most (weight A). */
  rank: number;
  /** Which fields match the query on their own (all its words in that one field). */
  inTitle: boolean;
  inCredits: boolean;
  inLabels: boolean;
  inDescription: boolean;
}

/**
 * Items whose search document matches a web-search style query (`"exact phrase"`, `or`, `-word`), English
 * stemming, best ranked first. A query of stop words only matches nothing.
 */
export async function findTextMatches(
  db: Kysely<Database>,
  text: string,
  query: { limit: number; filters: ItemFilters; now?: Date | undefined },
): Promise<TextMatch[]> {
  const tsquery = sql`websearch_to_tsquery('english', ${text}::text)`;
  // The stored document (db/migrations/0014), ranked where it matches; which fields match is read from its
  // weights, for the rows kept only (A title, B genres and tags, C credits, D description).
  const ranked = db
    .selectFrom('item_search_documents as documents')
    .innerJoin('items', 'items.id', 'documents.item_id')
    .select([
      'items.id as itemId',
      'items.title',
      'documents.document',
      sql<number>`ts_rank_cd(documents.document, ${tsquery})`.as('rank'),
    ])
    .where(sql<SqlBool>`documents.document @@ ${tsquery}`)
    .where(itemFilterCondition(query.filters, query.now))
    .orderBy('rank', 'desc')
    .orderBy('items.id')
    .limit(query.limit);
  const inField = (weight: 'a' | 'b' | 'c' | 'd') =>
    sql<boolean>`(ts_filter(ranked.document, ${sql.lit(`{${weight}}`)}::"char"[]) @@ ${tsquery})`;
  const rows = await db
    .with('ranked', () => ranked)
    .selectFrom('ranked')
    .select([
      'ranked.itemId',
      'ranked.title',
      'ranked.rank',
      inField('a').as('inTitle'),
      inField('c').as('inCredits'),
      inField('b').as('inLabels'),
      inField('d').as('inDescription'),
    ])
    .orderBy('ranked.rank', 'desc')
    .orderBy('ranked.itemId')
    .execute();
  return rows.map((row) => ({ ...row, rank: Number(row.rank) }));
}

/** A stored search document in Postgres's text form, as the in-memory index reads it. */
export interface SearchDocumentRow {
  itemId: string;
  document: string;
}

// Documents per keyset page: 5,000 of about 1.5 kB of text each.
const DOCUMENT_PAGE_SIZE = 5_000;

/** Every stored search document, a keyset page at a time in item id order. */
export function streamSearchDocuments(db: Kysely<Database>): AsyncGenerator<SearchDocumentRow[]> {
  return keysetPages(
    (after) =>
      db
        .selectFrom('item_search_documents')
        .select(['item_id as itemId', sql<string>`document::text`.as('document')])
        .$if(after !== undefined, (query) => query.where('item_id', '>', after!))
        .orderBy('item_id')
        .limit(DOCUMENT_PAGE_SIZE)
        .execute(),
    (row) => row.itemId,
    DOCUMENT_PAGE_SIZE,
  );
}

/** Documents written at or after `since`, oldest first, at most `limit`. */
export async function findSearchDocumentsChangedSince(
  db: Kysely<Database>,
  since: Date,
  limit: number,
): Promise<SearchDocumentRow[]> {
  return db
    .selectFrom('item_search_documents')
    .select(['item_id as itemId', sql<string>`document::text`.as('document')])
    .where('updated_at', '>=', since)
    .orderBy('updated_at')
    .limit(limit)
    .execute();
}

/** When a document last changed, undefined when there are none. */
export async function findLatestSearchDocumentChange(db: Kysely<Database>): Promise<Date | undefined> {
  const row = await db
    .selectFrom('item_search_documents')
    .select((eb) => eb.fn.max('updated_at').as('changedAt'))
    .executeTakeFirst();
  return row?.changedAt ? new Date(row.changedAt) : undefined;
}

/** How many documents there are: what the memory cap is checked on before a whole load. */
export async function countSearchDocuments(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('item_search_documents')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .executeTakeFirst();
  return Number(row?.count ?? 0);
}

/**
 * One round trip before an in-memory search: the query as Postgres parses it (websearch syntax, English
 * stemming and stop words, in tsquery's text form) and when a document last changed.
 */
export async function parseSearchQuery(
  db: Kysely<Database>,
  text: string,
): Promise<{ tsquery: string; documentsChangedAt: Date | undefined }> {
  const result = await sql<{ tsquery: string; changed_at: Date | string | null }>`
    SELECT websearch_to_tsquery('english', ${text}::text)::text AS tsquery,
      (SELECT max(updated_at) FROM item_search_documents) AS changed_at`.execute(db);
  const row = result.rows[0];
  return {
    tsquery: row?.tsquery ?? '',
    documentsChangedAt: row?.changed_at ? new Date(row.changed_at) : undefined,
  };
}
