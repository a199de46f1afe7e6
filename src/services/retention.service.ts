import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import { deleteExpiredChatSessions } from '../repositories/chat-sessions.repository.ts';
import { deleteEventsBefore } from '../repositories/events.repository.ts';

// Deleting in slices keeps each statement short, so a large purge never holds locks for long.
const DELETE_BATCH = 5_000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Deletes events that happened more than `days` days ago; returns how many were deleted. */
export async function purgeExpiredEvents(
  db: Kysely<Database>,
  days: number,
  now = new Date(),
): Promise<number> {
  const cutoff = new Date(now.getTime() - days * DAY_MS);
  let total = 0;
  for (;;) {
    const deleted = await deleteEventsBefore(db, cutoff, DELETE_BATCH);
    total += deleted;
    if (deleted < DELETE_BATCH) return total;
  }
}

/** Deletes the chat sessions whose time to live has run out; returns how many were deleted. */
export async function purgeExpiredChatSessions(db: Kysely<Database>, now = new Date()): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await deleteExpiredChatSessions(db, now, DELETE_BATCH);
    total += deleted;
    if (deleted < DELETE_BATCH) return total;
  }
}
