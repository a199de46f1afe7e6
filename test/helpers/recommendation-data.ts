import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/database.ts';

// Rows that model training and the recommendation engine write, inserted directly so that route tests of
// what reads them know the exact figures.

export interface ItemStatsFixture {
  itemId: string;
  users?: number;
  popularity?: number;
  day?: number;
  week?: number;
  month?: number;
}

export async function insertItemStats(
  db: Kysely<Database>,
  rows: readonly ItemStatsFixture[],
): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto('item_stats')
    .values(
      rows.map((row) => ({
        item_id: row.itemId,
        interactions: row.users ?? 0,
        users: row.users ?? 0,
        popularity: row.popularity ?? row.users ?? 0,
        trending_day: row.day ?? 0,
        trending_week: row.week ?? 0,
        trending_month: row.month ?? 0,
      })),
    )
    .execute();
}

export interface ImpressionFixture {
  recommendationId: string;
  /** The page's items in order; position i is the index (from 0). */
  itemIds: readonly string[];
  /** The sources of each item, by index; defaults to ['vector']. */
  sources?: readonly (readonly string[])[];
  variant?: string;
  userId?: string | null;
  endpoint?: string;
  createdAt?: Date;
}

export async function insertImpressions(
  db: Kysely<Database>,
  pages: readonly ImpressionFixture[],
): Promise<void> {
  const rows = pages.flatMap((page) =>
    page.itemIds.map((itemId, position) => ({
      recommendation_id: page.recommendationId,
      position,
      item_id: itemId,
      user_id: page.userId ?? null,
      endpoint: page.endpoint ?? 'recommendations',
      variant: page.variant ?? 'default',
      sources: [...(page.sources?.[position] ?? ['vector'])],
      ...(page.createdAt && { created_at: page.createdAt }),
    })),
  );
  if (rows.length > 0) await db.insertInto('recommendation_impressions').values(rows).execute();
}
