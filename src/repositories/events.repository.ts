import { type Kysely, sql } from 'kysely';
import type { Database, EventRow, NewEventRow } from '../db/database.ts';

/** Stores the events whose dedup_key is new; returns how many were stored. */
export async function insertNewEvents(db: Kysely<Database>, rows: readonly NewEventRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const inserted = await db
    .insertInto('events')
    .values([...rows])
    .onConflict((conflict) => conflict.column('dedup_key').doNothing())
    .returning('seq')
    .execute();
  return inserted.length;
}

export interface EventPosition {
  occurredAt: string;
  seq: string;
}

/** A user's events, newest first, after a keyset position. */
export async function listUserEvents(
  db: Kysely<Database>,
  userId: string,
  limit: number,
  after?: EventPosition,
): Promise<EventRow[]> {
  let query = db
    .selectFrom('events')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('occurred_at', 'desc')
    .orderBy('seq', 'desc')
    .limit(limit);
  if (after) {
    query = query.where(
      sql<boolean>`(occurred_at, seq) < (${new Date(after.occurredAt)}::timestamptz, ${after.seq}::bigint)`,
    );
  }
  return query.execute();
}

/** All of a user's events, oldest first (privacy export). */
export async function listAllUserEvents(db: Kysely<Database>, userId: string): Promise<EventRow[]> {
  return db
    .selectFrom('events')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('occurred_at')
    .orderBy('seq')
    .execute();
}

/** Deletes up to `batch` events that happened before `cutoff`; returns how many went. */
export async function deleteEventsBefore(db: Kysely<Database>, cutoff: Date, batch: number): Promise<number> {
  const result = await db
    .deleteFrom('events')
    .where('seq', 'in', (eb) =>
      eb.selectFrom('events').select('seq').where('occurred_at', '<', cutoff).limit(batch),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
