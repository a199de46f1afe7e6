import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.ts';

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
