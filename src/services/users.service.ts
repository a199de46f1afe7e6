import type { Kysely } from 'kysely';
import { listUserFeedback } from '../repositories/feedback.repository.ts';
import { z } from 'zod';
import type { Cache } from '../cache/cache.ts';
import type { ChatSessionRow, Database, EventRow, UserRow } from '../db/database.ts';
import { NotFoundError } from '../errors.ts';
import { decodeCursor, encodeCursor } from '../pagination.ts';
import { listUserChatSessions } from '../repositories/chat-sessions.repository.ts';
import { listAllUserEvents, listUserEvents } from '../repositories/events.repository.ts';
import { deleteUser, findUserById, upsertUser } from '../repositories/users.repository.ts';
import type { EventType } from '../schemas/events.schema.ts';
import type { User } from '../schemas/users.schema.ts';
import type { ModelTrainingService } from '../plugins/model-training.plugin.ts';
import type { UserTokens } from './user-tokens.service.ts';

/** Every cached value about one user starts with this, so erasure can purge them all. */
export const userCachePrefix = (userId: string) => `user:${userId}:`;

export async function getUser(db: Kysely<Database>, id: string): Promise<User> {
  const row = await findUserById(db, id);
  if (!row) throw new NotFoundError(`No user "${id}"`);
  return toUser(row);
}

export async function putUser(
  db: Kysely<Database>,
  id: string,
  attributes: Record<string, unknown>,
): Promise<{ user: User; created: boolean }> {
  const { user, created } = await upsertUser(db, id, attributes);
  return { user: toUser(user), created };
}

/**
 * Privacy erasure: the user's tokens first (none of them can act for, or re-create, the user again), then the
 * profile, every event, every chat session and every cached result; then what was derived from their events
 * (statistics, neighbour pairs only they supplied, every cached page; a training follows). Idempotent.
 */
export async function eraseUser(
  deps: {
    db: Kysely<Database>;
    cache: Cache;
    userTokens: Pick<UserTokens, 'revokeAll'>;
    modelTraining: Pick<ModelTrainingService, 'eventsDeleted' | 'itemsOfUser'>;
  },
  id: string,
): Promise<void> {
  await deps.userTokens.revokeAll(id);
  const itemIds = await deps.modelTraining.itemsOfUser(id);
  await deleteUser(deps.db, id);
  await deps.cache.deleteByPrefix(userCachePrefix(id));
  await deps.modelTraining.eventsDeleted({ itemIds, reason: 'erasure of a user' });
}

export async function listUserEventPage(
  db: Kysely<Database>,
  userId: string,
  limit: number,
  cursor?: string,
) {
  const after = cursor
    ? decodeCursor(cursor, { occurredAt: z.iso.datetime(), seq: z.string().regex(/^\d+$/) })
    : undefined;
  const [user, rows] = await Promise.all([
    findUserById(db, userId),
    listUserEvents(db, userId, limit + 1, after),
  ]);
  if (!user) throw new NotFoundError(`No user "${userId}"`);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    events: page.map(toEvent),
    nextCursor:
      rows.length > limit && last
        ? encodeCursor({ occurredAt: last.occurred_at.toISOString(), seq: String(last.seq) })
        : null,
  };
}

/** Everything stored about one user (privacy access requests): the profile, every event, chat and feedback. */
export async function exportUser(db: Kysely<Database>, id: string) {
  const [user, events, sessions, feedback] = await Promise.all([
    findUserById(db, id),
    listAllUserEvents(db, id),
    listUserChatSessions(db, id),
    listUserFeedback(db, id),
  ]);
  if (!user) throw new NotFoundError(`No user "${id}"`);
  return {
    exportedAt: new Date().toISOString(),
    user: toUser(user),
    events: events.map(toEvent),
    chatSessions: sessions.map(toChatSession),
    feedback: feedback.map((row) => ({
      id: String(row.id),
      itemId: row.item_id,
      recommendationId: row.recommendation_id,
      target: row.target,
      value: row.value,
      createdAt: new Date(row.created_at).toISOString(),
    })),
  };
}

function toChatSession(row: ChatSessionRow) {
  return {
    id: row.id,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    turns: row.turns.map((turn) => ({
      at: turn.at,
      message: turn.message,
      appliedQuery: turn.query,
      itemIds: turn.itemIds,
      reply: turn.reply,
    })),
  };
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    attributes: row.attributes,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function toEvent(row: EventRow) {
  return {
    ...(row.client_id !== null && { id: row.client_id }),
    userId: row.user_id,
    itemId: row.item_id,
    type: row.type as EventType,
    ...(row.value !== null && { value: row.value }),
    timestamp: row.occurred_at.toISOString(),
    ...(row.recommendation_id !== null && { recommendationId: row.recommendation_id }),
    ...(row.context !== null && { context: row.context }),
    receivedAt: row.received_at.toISOString(),
  };
}
