import { type Kysely, sql } from 'kysely';
import pgvector from 'pgvector';
import { cosineDistance } from 'pgvector/kysely';
import type { Database, ItemRow } from '../db/database.ts';
import type { ItemFilters } from '../recommender/item-filters.ts';
import { relativeToStrongest } from '../recommender/trending-decay.ts';
import { itemFilterCondition } from './item-filters.repository.ts';

// The queries candidate sources run. Each takes the page's filters, so that a source returns items the page
// may show (a filtered vector search keeps scanning the HNSW graph until it has `limit` of them).

export interface CandidateQuery {
  limit: number;
  filters: ItemFilters;
  /** Items never to return (what the user consumed, the item a "similar" row is about...). */
  excludeIds?: readonly string[] | undefined;
  now?: Date | undefined;
}

const excluding = (ids: readonly string[] | undefined) =>
  ids && ids.length > 0 ? sql<boolean>`items.id <> ALL(${[...ids]}::text[])` : sql<boolean>`true`;

/** Items nearest to `vector` by cosine similarity (1 same direction), nearest first. */
export async function findNearestItems(
  db: Kysely<Database>,
  vector: Float32Array | readonly number[],
  query: CandidateQuery,
): Promise<{ itemId: string; similarity: number }[]> {
  const distance = cosineDistance('item_embeddings.embedding', Array.from(vector));
  const nearest = db
    .selectFrom('item_embeddings')
    .innerJoin('items', 'items.id', 'item_embeddings.item_id')
    .select(['item_embeddings.item_id as itemId', sql<number>`${distance}`.as('distance')])
    .where(excluding(query.excludeIds))
    .where(itemFilterCondition(query.filters, query.now))
    // Ordered by the distance expression itself, which is what lets the planner walk the HNSW index.
    .orderBy('distance')
    .limit(query.limit);
  // The iterative scan in relaxed order can return an item slightly after a nearer one: sort again outside.
  const rows = await db
    .with(
      (cte) => cte('nearest').materialized(),
      () => nearest,
    )
    .selectFrom('nearest')
    .selectAll()
    .orderBy('distance')
    .orderBy('itemId')
    .execute();
  return rows.map((row) => ({ itemId: row.itemId, similarity: 1 - Number(row.distance) }));
}

export type ItemStat = 'popularity' | 'trending_day' | 'trending_week' | 'trending_month';

/**
 * Items with the highest value of a live statistic, highest first: distinct users (popularity), or the
 * decayed count of a trending window relative to the first item's (1). Every item with a positive event has
 * a row, so the list is empty only when no event counts.
 */
export async function findTopItemsByStat(
  db: Kysely<Database>,
  stat: ItemStat,
  query: CandidateQuery,
): Promise<{ itemId: string; value: number; users: number }[]> {
  const rows = await db
    .selectFrom('item_stats')
    .innerJoin('items', 'items.id', 'item_stats.item_id')
    .select(['items.id as itemId', sql<number>`item_stats.${sql.ref(stat)}`.as('value'), 'item_stats.users'])
    .where(excluding(query.excludeIds))
    .where(itemFilterCondition(query.filters, query.now))
    .orderBy(sql.ref(`item_stats.${stat}`), 'desc')
    .orderBy('items.id')
    .limit(query.limit)
    .execute();
  const values = rows.map((row) => Number(row.value));
  const scaled = stat === 'popularity' ? values : relativeToStrongest(values);
  return rows.map((row, index) => ({ itemId: row.itemId, value: scaled[index]!, users: Number(row.users) }));
}

/** Items released in `sinceYear` or later: nearest to `vector` first when there is one, else newest first. */
export async function findFreshItems(
  db: Kysely<Database>,
  vector: Float32Array | readonly number[] | undefined,
  query: CandidateQuery & { sinceYear: number },
): Promise<{ itemId: string; similarity: number | undefined; releaseYear: number | null }[]> {
  const fresh = sql<boolean>`items.release_year >= ${query.sinceYear}::int`;
  if (vector) {
    const distance = cosineDistance('item_embeddings.embedding', Array.from(vector));
    const rows = await db
      .selectFrom('items')
      .innerJoin('item_embeddings', 'item_embeddings.item_id', 'items.id')
      .select(['items.id as itemId', 'items.release_year', sql<number>`${distance}`.as('distance')])
      .where(fresh)
      .where(excluding(query.excludeIds))
      .where(itemFilterCondition(query.filters, query.now))
      // The distance alone, so that the planner can walk the HNSW index (a second key forces an exact scan).
      .orderBy('distance')
      .limit(query.limit)
      .execute();
    return rows.map((row) => ({
      itemId: row.itemId,
      similarity: 1 - Number(row.distance),
      releaseYear: row.release_year,
    }));
  }
  const rows = await db
    .selectFrom('items')
    .select(['items.id as itemId', 'items.release_year'])
    .where(fresh)
    .where(excluding(query.excludeIds))
    .where(itemFilterCondition(query.filters, query.now))
    .orderBy('items.release_year', 'desc')
    .orderBy('items.created_at', 'desc')
    .orderBy('items.id')
    .limit(query.limit)
    .execute();
  return rows.map((row) => ({ itemId: row.itemId, similarity: undefined, releaseYear: row.release_year }));
}

/** Items an editor boosted: a positive number in `attributes.boost`, highest first. */
export async function findBoostedItems(
  db: Kysely<Database>,
  query: CandidateQuery,
): Promise<{ itemId: string; boost: number }[]> {
  const boost = sql<number>`(CASE WHEN jsonb_typeof(items.attributes -> 'boost') = 'number' THEN (items.attributes ->> 'boost')::float8 END)`;
  const rows = await db
    .selectFrom('items')
    .select(['items.id as itemId', boost.as('boost')])
    .where(sql<boolean>`items.attributes ? 'boost'`)
    .where(sql<boolean>`coalesce(${boost} > 0, false)`)
    .where(excluding(query.excludeIds))
    .where(itemFilterCondition(query.filters, query.now))
    .orderBy(sql`2 DESC`)
    .orderBy('items.id')
    .limit(query.limit)
    .execute();
  return rows.map((row) => ({ itemId: row.itemId, boost: Number(row.boost) }));
}

export interface RankableItemRow {
  row: ItemRow;
  /** Unit vector, or undefined while the item waits for its embedding. */
  embedding: Float32Array | undefined;
  /** Added to the catalog after the last model training: no collaborative or popularity signal can exist yet. */
  isNew: boolean;
}

/**
 * The candidates that pass the filters, with their full rows, in no particular order; with their embeddings
 * unless the caller holds them (`withEmbeddings: false`: `embedding` is then undefined).
 */
export async function findRankableItems(
  db: Kysely<Database>,
  ids: readonly string[],
  filters: ItemFilters,
  { now, withEmbeddings = true }: { now?: Date | undefined; withEmbeddings?: boolean } = {},
): Promise<RankableItemRow[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('items')
    .$if(withEmbeddings, (query) => query.leftJoin('item_embeddings', 'item_embeddings.item_id', 'items.id'))
    .selectAll('items')
    .select(
      sql<boolean>`coalesce(items.created_at > (
        SELECT (value ->> 'at')::timestamptz FROM marquee_meta WHERE key = 'models_trained'), true)`.as(
        'is_new',
      ),
    )
    .$if(withEmbeddings, (query) =>
      query.select(sql<string | null>`item_embeddings.embedding`.as('embedding')),
    )
    .where('items.id', '=', sql<string>`ANY(${[...ids]}::text[])`)
    .where(itemFilterCondition(filters, now))
    .execute();
  return rows.map(({ is_new, ...rest }) => {
    const { embedding, ...row } = rest as typeof rest & { embedding?: string | null };
    return { row, embedding: parseVector(embedding), isNew: Boolean(is_new) };
  });
}

/** The titles of those of `ids` that pass the filters (and exist), by id. */
export async function findItemTitles(
  db: Kysely<Database>,
  ids: readonly string[],
  filters: ItemFilters,
  { now }: { now?: Date | undefined } = {},
): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom('items')
    .select(['items.id', 'items.title'])
    .where('items.id', '=', sql<string>`ANY(${[...ids]}::text[])`)
    .where(itemFilterCondition(filters, now))
    .execute();
  return new Map(rows.map((row) => [row.id, row.title]));
}

export interface RankableCandidateRow {
  id: string;
  genres: readonly string[];
  seriesId: string | null;
  /** Added to the catalog after the last model training: no collaborative or popularity signal can exist yet. */
  isNew: boolean;
  /** Unit vector when asked for and stored. */
  embedding: Float32Array | undefined;
}

/**
 * The candidates that pass the filters, with what ranking reads of them (not the whole row: a page shows a
 * few of several hundred candidates; findItemRows reads those), in no particular order.
 */
export async function findRankableCandidates(
  db: Kysely<Database>,
  ids: readonly string[],
  filters: ItemFilters,
  { withEmbeddings = true }: { withEmbeddings?: boolean } = {},
): Promise<RankableCandidateRow[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('items')
    .$if(withEmbeddings, (query) => query.leftJoin('item_embeddings', 'item_embeddings.item_id', 'items.id'))
    .select([
      'items.id',
      'items.genres',
      'items.series_id',
      sql<boolean>`coalesce(items.created_at > (
        SELECT (value ->> 'at')::timestamptz FROM marquee_meta WHERE key = 'models_trained'), true)`.as(
        'is_new',
      ),
    ])
    .$if(withEmbeddings, (query) =>
      query.select(sql<string | null>`item_embeddings.embedding`.as('embedding')),
    )
    .where('items.id', '=', sql<string>`ANY(${[...ids]}::text[])`)
    .where(itemFilterCondition(filters))
    .execute();
  return rows.map((row) => ({
    id: row.id,
    genres: row.genres,
    seriesId: row.series_id,
    isNew: Boolean(row.is_new),
    embedding: parseVector((row as { embedding?: string | null }).embedding),
  }));
}

/** The full rows of some items, by id (those that exist). */
export async function findItemRows(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<Map<string, ItemRow>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom('items')
    .selectAll()
    .where('items.id', '=', sql<string>`ANY(${[...ids]}::text[])`)
    .execute();
  return new Map(rows.map((row) => [row.id, row]));
}

/** Titles and genres of some items (the evidence a page cites), by id; their embeddings when asked. */
export async function findItemSummaries(
  db: Kysely<Database>,
  ids: readonly string[],
  { withEmbeddings = false }: { withEmbeddings?: boolean } = {},
): Promise<Map<string, { title: string; genres: string[]; embedding: Float32Array | undefined }>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom('items')
    .leftJoin('item_embeddings', 'item_embeddings.item_id', 'items.id')
    .select(['items.id', 'items.title', 'items.genres'])
    .$if(withEmbeddings, (query) => query.select('item_embeddings.embedding'))
    .where('items.id', '=', sql<string>`ANY(${[...ids]}::text[])`)
    .execute();
  return new Map(
    rows.map((row) => [
      row.id,
      {
        title: row.title,
        genres: row.genres,
        embedding: 'embedding' in row ? parseVector(row.embedding as string | null) : undefined,
      },
    ]),
  );
}

/** Distinct items a user has events of these types for, most recent first, at most `limit`. */
export async function findConsumedItemIds(
  db: Kysely<Database>,
  userId: string,
  types: readonly string[],
  limit: number,
): Promise<string[]> {
  if (types.length === 0) return [];
  const rows = await db
    .selectFrom('events')
    .select('item_id')
    .where('user_id', '=', userId)
    .where('type', '=', sql<string>`ANY(${[...types]}::text[])`)
    .groupBy('item_id')
    .orderBy(sql`max(occurred_at)`, 'desc')
    .limit(limit)
    .execute();
  return rows.map((row) => row.item_id);
}

function parseVector(text: string | null | undefined): Float32Array | undefined {
  if (text === null || text === undefined) return undefined;
  const values = pgvector.fromSql(text);
  return Array.isArray(values) ? Float32Array.from(values) : undefined;
}

/** Records what a page showed, for attribution; a page recorded before is left as it was. */
export async function insertImpressions(
  db: Kysely<Database>,
  rows: readonly {
    recommendationId: string;
    position: number;
    itemId: string;
    userId: string | undefined;
    endpoint: string;
    variant: string;
    sources: string[];
  }[],
): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto('recommendation_impressions')
    .values(
      rows.map((row) => ({
        recommendation_id: row.recommendationId,
        position: row.position,
        item_id: row.itemId,
        user_id: row.userId ?? null,
        endpoint: row.endpoint,
        variant: row.variant,
        sources: row.sources,
      })),
    )
    .onConflict((conflict) => conflict.columns(['recommendation_id', 'position']).doNothing())
    .execute();
}
