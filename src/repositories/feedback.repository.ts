import type { Kysely } from 'kysely';
import type { Database, RecommendationFeedbackTable } from '../db/database.ts';

export interface NewFeedback {
  userId: string;
  itemId: string;
  recommendationId: string | null;
  target: RecommendationFeedbackTable['target'];
  value: RecommendationFeedbackTable['value'];
}

export async function insertFeedback(db: Kysely<Database>, feedback: NewFeedback): Promise<string> {
  const row = await db
    .insertInto('recommendation_feedback')
    .values({
      user_id: feedback.userId,
      item_id: feedback.itemId,
      recommendation_id: feedback.recommendationId,
      target: feedback.target,
      value: feedback.value,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return String(row.id);
}

/** Every feedback of a user, oldest first (the privacy export). */
export async function listUserFeedback(db: Kysely<Database>, userId: string) {
  return db
    .selectFrom('recommendation_feedback')
    .select(['id', 'item_id', 'recommendation_id', 'target', 'value', 'created_at'])
    .where('user_id', '=', userId)
    .orderBy('id')
    .execute();
}
