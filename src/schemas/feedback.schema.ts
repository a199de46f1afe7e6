import { z } from 'zod';
import { idSchema, textSchema } from './common.schema.ts';

export const FEEDBACK_TARGETS = ['item', 'explanation'] as const;
export const FEEDBACK_VALUES = ['up', 'down', 'not_interested'] as const;

export const feedbackInputSchema = z
  .strictObject({
    userId: idSchema.describe('Who gives it; an unknown user is created, as by an event.'),
    itemId: idSchema.describe('The recommended item; must be an item of the catalog.'),
    recommendationId: textSchema()
      .min(1)
      .max(128)
      .optional()
      .describe(
        'The recommendationId of the page that showed it: counts the feedback for its sources and variant.',
      ),
    target: z
      .enum(FEEDBACK_TARGETS)
      .default('item')
      .describe('What the feedback is about: the item (default) or the explanation given for it.'),
    value: z
      .enum(FEEDBACK_VALUES)
      .describe(
        '`up` or `down`; `not_interested` (items only). On an item, each is also recorded as an event ' +
          "(`like`, `dislike`, `skip`), which hides the item from the user's pages at once and teaches the models.",
      ),
  })
  .superRefine((feedback, context) => {
    if (feedback.target === 'explanation' && feedback.value === 'not_interested')
      context.addIssue({
        code: 'custom',
        path: ['value'],
        message: 'is up or down for an explanation (not_interested is about an item)',
      });
  })
  .meta({
    id: 'FeedbackInput',
    examples: [
      {
        userId: 'user-7',
        itemId: 'movie-42',
        recommendationId: 'rec-5f1c',
        target: 'item',
        value: 'not_interested',
      },
      {
        userId: 'user-7',
        itemId: 'movie-42',
        recommendationId: 'rec-5f1c',
        target: 'explanation',
        value: 'down',
      },
    ],
  });
export type FeedbackInput = z.output<typeof feedbackInputSchema>;

export const feedbackResultSchema = z
  .object({
    feedbackId: z.string(),
    event: z
      .enum(['like', 'dislike', 'skip'])
      .nullable()
      .describe('The event recorded with it (null for feedback on an explanation).'),
    hidden: z.boolean().describe("Whether the item is now left out of this user's pages."),
  })
  .meta({
    id: 'FeedbackResult',
    examples: [{ feedbackId: '17', event: 'skip', hidden: true }],
  });
export type FeedbackResult = z.infer<typeof feedbackResultSchema>;
