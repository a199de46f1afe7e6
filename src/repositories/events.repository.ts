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

/**
 * For each (item, evidence item) pair, the distinct users with a positive event (of `types`) on both: the
 * viewers behind a "people who watched X also watched this". Pairs are read together in one statement.
 */
export async function countCoViewers(
  db: Kysely<Database>,
  pairs: readonly { itemId: string; evidenceId: string }[],
  types: readonly string[],
): Promise<Map<string, number>> {
  if (pairs.length === 0 || types.length === 0) return new Map();
  const rows = await sql<{ item_id: string; evidence_id: string; viewers: string | number }>`
    SELECT pair.item_id, pair.evidence_id, counted.viewers
    FROM unnest(${pairs.map((pair) => pair.itemId)}::text[], ${pairs.map((pair) => pair.evidenceId)}::text[])
      AS pair(item_id, evidence_id)
    CROSS JOIN LATERAL (
      SELECT count(*) AS viewers FROM (
        SELECT user_id FROM events WHERE item_id = pair.item_id AND type = ANY(${[...types]}::text[])
        INTERSECT
        SELECT user_id FROM events WHERE item_id = pair.evidence_id AND type = ANY(${[...types]}::text[])
      ) AS both_items
    ) AS counted`.execute(db);
  return new Map(rows.rows.map((row) => [coViewerKey(row.item_id, row.evidence_id), Number(row.viewers)]));
}

export const coViewerKey = (itemId: string, evidenceId: string) => `${itemId}\u0000${evidenceId}`;
