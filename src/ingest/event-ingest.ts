import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, NewEventRow } from '../db/database.ts';
import { insertNewEvents } from '../repositories/events.repository.ts';
import { addEventsToItemStats } from '../repositories/item-stats.repository.ts';
import { findExistingItemIds } from '../repositories/items.repository.ts';
import { ensureUsersExist } from '../repositories/users.repository.ts';
import { type EventBatchResult, type EventInput, eventInputSchema } from '../schemas/events.schema.ts';

export interface IngestOptions {
  /** The event types item_stats counts (positiveEventTypes of the event weights). */
  positiveTypes: readonly string[];
  /** The time of events without a timestamp; defaults to now. */
  now?: Date;
  /**
   * Called after the commit with the users of the stored events (and of those already stored), when any
   * was new: where their profiles are refreshed.
   */
  afterCommit?: (userIds: readonly string[]) => Promise<void>;
}

/**
 * Validates and stores a batch of events, each on its own: a bad event is reported by index and the others
 * go in. The write path shared by POST /v1/events and (later) bulk imports.
 */
export async function ingestEvents(
  db: Kysely<Database>,
  events: readonly unknown[],
  { now = new Date(), afterCommit, positiveTypes }: IngestOptions,
): Promise<EventBatchResult> {
  const rejected: EventBatchResult['rejected'] = [];
  const valid: { index: number; event: EventInput }[] = [];
  events.forEach((candidate, index) => {
    const parsed = eventInputSchema.safeParse(candidate);
    if (parsed.success) valid.push({ index, event: parsed.data });
    else rejected.push({ index, problem: describeIssues(parsed.error.issues) });
  });

  const stored = await db
    .transaction()
    .execute((trx) => storeValidEvents(trx, valid, { positiveTypes, now }));
  if (stored.accepted > 0) await afterCommit?.(stored.userIds);
  rejected.push(...stored.rejected);
  rejected.sort((a, b) => a.index - b.index);
  return { accepted: stored.accepted, duplicates: stored.duplicates, rejected };
}

/** What storeValidEvents did, and for which users (those of the events stored or found already stored). */
export interface StoredEvents extends EventBatchResult {
  userIds: string[];
}

/**
 * Stores validated events whose item exists, creating their users, and adds them to the live item
 * statistics; run inside the caller's transaction. Events already stored (same id, or same user, item, type
 * and instant) are counted as duplicates.
 */
export async function storeValidEvents(
  trx: Kysely<Database>,
  valid: readonly { index: number; event: EventInput }[],
  { positiveTypes, now = new Date() }: { positiveTypes: readonly string[]; now?: Date },
): Promise<StoredEvents> {
  const rejected: EventBatchResult['rejected'] = [];
  const knownItems = await findExistingItemIds(trx, [...new Set(valid.map(({ event }) => event.itemId))]);
  const rows: NewEventRow[] = [];
  for (const { index, event } of valid) {
    if (knownItems.has(event.itemId)) rows.push(toEventRow(event, now));
    else rejected.push({ index, problem: `itemId: unknown item "${event.itemId}"` });
  }
  if (rows.length === 0) return { accepted: 0, duplicates: 0, rejected, userIds: [] };
  const userIds = [...new Set(rows.map((row) => row.user_id))];
  await ensureUsersExist(trx, userIds);
  const stored = await insertNewEvents(trx, rows);
  await addEventsToItemStats(trx, stored, positiveTypes);
  return { accepted: stored.length, duplicates: rows.length - stored.length, rejected, userIds };
}

function toEventRow(event: EventInput, now: Date): NewEventRow {
  // Millisecond precision, like the timestamps clients send and the cursors handed out.
  const occurredAt = event.timestamp ? new Date(event.timestamp) : now;
  return {
    dedup_key: event.id !== undefined ? `id:${event.id}` : naturalKey(event, occurredAt),
    client_id: event.id ?? null,
    user_id: event.userId,
    item_id: event.itemId,
    type: event.type,
    value: event.value ?? null,
    occurred_at: occurredAt,
    recommendation_id: event.recommendationId ?? null,
    context: event.context ? JSON.stringify(event.context) : null,
  };
}

/** Without a client id, the same user, item, type and instant is the same event (replayed history). */
function naturalKey(event: EventInput, occurredAt: Date): string {
  const digest = createHash('sha256')
    .update([event.userId, event.itemId, event.type, occurredAt.toISOString()].join('\u0000'))
    .digest('base64url');
  return `auto:${digest}`;
}

export function describeIssues(
  issues: readonly { path: readonly PropertyKey[]; message: string; code: string; keys?: string[] }[],
) {
  return issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys' && issue.keys)
        return issue.keys.map((key) => `${key}: unknown field`).join('; ');
      const path = issue.path.map(String).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}
