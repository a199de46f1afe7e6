import { type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.ts';
import type { ItemFilters } from '../recommender/item-filters.ts';
import { itemFilterCondition } from './item-filters.repository.ts';

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
