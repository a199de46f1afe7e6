import { type Kysely, sql } from 'kysely';
import type { ChatSessionRow, Database, StoredChatTurn } from '../db/database.ts';

/** The session, unless it does not exist or has expired (an expired session is never read, purged or not). */
export async function findLiveChatSession(
  db: Kysely<Database>,
  id: string,
  now: Date,
): Promise<ChatSessionRow | undefined> {
  return db
    .selectFrom('chat_sessions')
    .selectAll()
    .where('id', '=', id)
    .where('expires_at', '>', now)
    .executeTakeFirst();
}

/**
 * Appends a turn to a session, creating the session on its first turn, keeps its last `maxTurns` turns and
 * pushes its expiry to `expiresAt`. The append happens in the database, so two turns of one session
 * answered at once both land. A session of another user is left untouched (and false returned).
 */
export async function appendChatTurn(
  db: Kysely<Database>,
  session: { id: string; userId: string | null; turn: StoredChatTurn; expiresAt: Date; maxTurns: number },
): Promise<boolean> {
  const turns = JSON.stringify([session.turn]);
  const result = await db
    .insertInto('chat_sessions')
    .values({ id: session.id, user_id: session.userId, turns, expires_at: session.expiresAt })
    .onConflict((conflict) =>
      conflict
        .column('id')
        .doUpdateSet({
          // The last maxTurns elements of the concatenation, in their order.
          turns: sql<string>`(
            SELECT coalesce(jsonb_agg(turn ORDER BY position), '[]'::jsonb)
            FROM jsonb_array_elements(chat_sessions.turns || excluded.turns) WITH ORDINALITY AS t(turn, position)
            WHERE position > jsonb_array_length(chat_sessions.turns || excluded.turns) - ${session.maxTurns}::int)`,
          updated_at: sql<Date>`now()`,
          expires_at: (eb) => eb.ref('excluded.expires_at'),
        })
        .where(sql<boolean>`chat_sessions.user_id IS NOT DISTINCT FROM excluded.user_id`),
    )
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Every stored session of a user, expired or not (export shows what is stored), oldest first. */
export async function listUserChatSessions(db: Kysely<Database>, userId: string): Promise<ChatSessionRow[]> {
  return db
    .selectFrom('chat_sessions')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/** Deletes up to `limit` sessions expired at `now`; returns how many. */
export async function deleteExpiredChatSessions(
  db: Kysely<Database>,
  now: Date,
  limit: number,
): Promise<number> {
  const result = await db
    .deleteFrom('chat_sessions')
    .where(
      'id',
      'in',
      db.selectFrom('chat_sessions').select('id').where('expires_at', '<=', now).limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
