import { type Kysely, sql } from 'kysely';
import type { Database, EventRow, NewEventRow } from '../db/database.ts';
import type { StoredEventFacts } from './item-stats.repository.ts';

/** Stores the events whose dedup_key is new; returns those stored, with their seq. */
export async function insertNewEvents(
  db: Kysely<Database>,
  rows: readonly NewEventRow[],
): Promise<StoredEventFacts[]> {
  if (rows.length === 0) return [];
  const inserted = await db
    .insertInto('events')
    .values([...rows])
    .onConflict((conflict) => conflict.column('dedup_key').doNothing())
    .returning(['seq', 'user_id', 'item_id', 'type', 'occurred_at'])
    .execute();
  return inserted.map((row) => ({
    seq: row.seq,
    userId: row.user_id,
    itemId: row.item_id,
    type: row.type,
    occurredAtMs: new Date(row.occurred_at).getTime(),
  }));
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
