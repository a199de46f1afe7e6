import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import { ValidationError } from '../errors.ts';
import { storeValidEvents } from '../ingest/event-ingest.ts';
import { insertFeedback } from '../repositories/feedback.repository.ts';
import { findExistingItemIds } from '../repositories/items.repository.ts';
import { ensureUsersExist } from '../repositories/users.repository.ts';
import type { FeedbackInput, FeedbackResult } from '../schemas/feedback.schema.ts';

/**
 * The event a feedback on an item is also recorded as: what hides the item (these types are consumed by
 * default), moves the user's profile (dislike and skip weigh negatively) and reaches the next training.
 */
const EVENT_OF = { up: 'like', down: 'dislike', not_interested: 'skip' } as const;

export interface FeedbackOptions {
  positiveTypes: readonly string[];
  consumedTypes: readonly string[];
  /** After the commit, with the user, when an event was stored: their profile and cached pages are refreshed. */
  afterCommit: (userIds: readonly string[]) => Promise<void>;
  now?: Date;
}

/** Stores a feedback, and on an item its event, in one transaction. */
export async function recordFeedback(
  db: Kysely<Database>,
  feedback: FeedbackInput,
  options: FeedbackOptions,
): Promise<FeedbackResult> {
  const eventType = feedback.target === 'item' ? EVENT_OF[feedback.value] : null;
  const { feedbackId, stored } = await db.transaction().execute(async (trx) => {
    const known = await findExistingItemIds(trx, [feedback.itemId]);
    if (!known.has(feedback.itemId))
      throw new ValidationError([{ path: 'body.itemId', message: 'is not an item of the catalog' }]);
    await ensureUsersExist(trx, [feedback.userId]);
    const events = eventType
      ? await storeValidEvents(
          trx,
          [
            {
              index: 0,
              event: {
                userId: feedback.userId,
                itemId: feedback.itemId,
                type: eventType,
                ...(feedback.recommendationId !== undefined && {
                  recommendationId: feedback.recommendationId,
                }),
              },
            },
          ],
          { positiveTypes: options.positiveTypes, ...(options.now && { now: options.now }) },
        )
      : undefined;
    const id = await insertFeedback(trx, {
      userId: feedback.userId,
      itemId: feedback.itemId,
      recommendationId: feedback.recommendationId ?? null,
      target: feedback.target,
      value: feedback.value,
    });
    return { feedbackId: id, stored: (events?.accepted ?? 0) + (events?.duplicates ?? 0) > 0 };
  });
  if (stored) await options.afterCommit([feedback.userId]);
  return {
    feedbackId,
    event: eventType,
    hidden: eventType !== null && options.consumedTypes.includes(eventType),
  };
}
