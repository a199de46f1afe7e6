import { type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.ts';
import type { ItemFilters } from '../recommender/item-filters.ts';
import { itemFilterCondition } from './item-filters.repository.ts';

// Written exactly as the expression index items_search_document_idx (db/migrations/0005) is, so that the
// planner matches it: any other spelling of the document is a sequential scan of the catalog.
const searchDocument = sql<string>`marquee_item_document(items.title, items.genres, items.tags, items.credits, items.description)`;

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
  const matches = (vector: ReturnType<typeof sql>) => sql<boolean>`(${vector} @@ ${tsquery})`;
  const rows = await db
    .selectFrom('items')
    .select([
      'items.id as itemId',
      'items.title',
      sql<number>`ts_rank_cd(${searchDocument}, ${tsquery})`.as('rank'),
      matches(sql`to_tsvector('english', items.title)`).as('inTitle'),
      matches(sql`jsonb_to_tsvector('english', items.credits, '["string"]')`).as('inCredits'),
      matches(sql`to_tsvector('english', array_to_string(items.genres || items.tags, ' '))`).as('inLabels'),
      matches(sql`to_tsvector('english', left(coalesce(items.description, ''), 4000))`).as('inDescription'),
    ])
    .where(sql<SqlBool>`${searchDocument} @@ ${tsquery}`)
    .where(itemFilterCondition(query.filters, query.now))
    .orderBy('rank', 'desc')
    .orderBy('items.id')
    .limit(query.limit)
    .execute();
  return rows.map((row) => ({ ...row, rank: Number(row.rank) }));
}
