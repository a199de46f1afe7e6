import { z } from 'zod';
import { chatQuerySchema } from '../chat/chat-query.ts';
import { idSchema, nonBlankTextSchema } from './common.schema.ts';
import {
  explainBodyShape,
  explanationStreamSchema,
  itemFiltersSchema,
  recommendedItemSchema,
} from './recommendations.schema.ts';

export const CHAT_MESSAGE_MAX_LENGTH = 2_000;
export const CHAT_MAX_LIMIT = 50;

export const chatRequestSchema = z
  .strictObject({
    sessionId: z
      .uuid({ message: 'must be a sessionId from an earlier answer' })
      .optional()
      .describe('Continue this conversation (from an earlier answer); leave out to start one.'),
    userId: idSchema
      .optional()
      .describe(
        'Personalise for this user (their taste, nothing they already watched); keeps the session theirs.',
      ),
    message: nonBlankTextSchema(CHAT_MESSAGE_MAX_LENGTH).describe(
      'What the viewer wrote, in plain language.',
    ),
    filters: itemFiltersSchema
      .optional()
      .describe('Business rules every item obeys on top of what the message asks (region, maturity...).'),
    limit: z
      .number({ message: 'must be a number' })
      .int({ message: 'must be a whole number' })
      .min(1, { message: 'must be at least 1' })
      .max(CHAT_MAX_LIMIT, { message: `must be at most ${CHAT_MAX_LIMIT}` })
      .default(10)
      .describe(`Items to return, 1 to ${CHAT_MAX_LIMIT} (default 10).`),
    ...explainBodyShape,
  })
  .meta({
    id: 'ChatRequest',
    examples: [
      { message: 'something like Stranger Things but a movie, and not horror' },
      {
        sessionId: '0b6f4c1e-2f7a-4d2b-9a51-3f0f1c2d4e5a',
        userId: 'user-7',
        message: 'make it shorter, and only from the 90s',
        filters: { region: 'FR' },
        limit: 5,
        explain: true,
        locale: 'fr',
      },
    ],
  });
export type ChatRequestBody = z.output<typeof chatRequestSchema>;

export const chatAnswerSchema = z
  .object({
    sessionId: z.string().describe('Send it back with the next message to continue the conversation.'),
    reply: z
      .string()
      .describe('What to show above the items, in the language of `locale`; it names only returned items.'),
    items: z.array(recommendedItemSchema).describe('Catalog items only, best first.'),
    appliedQuery: chatQuerySchema,
    explanationStream: explanationStreamSchema.optional(),
  })
  .meta({
    id: 'ChatAnswer',
    examples: [
      {
        sessionId: '0b6f4c1e-2f7a-4d2b-9a51-3f0f1c2d4e5a',
        reply:
          'Here are 10 movies like Stranger Things, without horror: "Super 8", "E.T." and "The Goonies" lead the list.',
        items: [
          {
            itemId: 'super-8',
            score: 0.0328,
            item: {
              id: 'super-8',
              type: 'movie',
              title: 'Super 8',
              description: 'Kids filming a movie witness a train crash and something escapes from it.',
              genres: ['Sci-Fi & Fantasy', 'Thrillers'],
              tags: [],
              credits: [],
              regions: [],
              attributes: {},
              createdAt: '2026-11-01T12:00:00.000Z',
              updatedAt: '2026-11-01T12:00:00.000Z',
            },
            reasons: [
              {
                source: 'session',
                detail: 'Close to "Stranger Things"',
                evidenceItemIds: ['stranger-things'],
              },
            ],
          },
        ],
        appliedQuery: {
          semanticText: '',
          referenceTitles: ['Stranger Things'],
          types: ['movie'],
          genres: [],
          excludeGenres: ['horror'],
          yearFrom: null,
          yearTo: null,
          maxMaturityRating: null,
          minDurationMinutes: null,
          maxDurationMinutes: null,
          languages: [],
          mood: null,
        },
      },
    ],
  });
export type ChatAnswer = z.infer<typeof chatAnswerSchema>;

/** The events of the streaming form, in order, as documented. */
export const chatEventSchema = z
  .union([
    z
      .object({
        sessionId: z.string(),
        items: z.array(recommendedItemSchema),
        appliedQuery: chatQuerySchema,
        explanationStream: explanationStreamSchema.optional(),
      })
      .describe('`event: items`, first: the page, before any word of the reply.'),
    z.object({ text: z.string() }).describe('`event: reply`, then: the next piece of the reply.'),
    z.object({ sessionId: z.string(), reply: z.string() }).describe('`event: done`, last: the whole reply.'),
  ])
  .meta({ id: 'ChatEvent', description: 'One server-sent event of a streamed chat answer.' });
