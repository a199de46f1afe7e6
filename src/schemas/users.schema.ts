import { z } from 'zod';
import { idSchema, jsonObjectPatchSchema, jsonObjectSchema } from './common.schema.ts';
import { eventSchema } from './events.schema.ts';

export const userInputSchema = z
  .strictObject({
    attributes: jsonObjectSchema()
      .default({})
      .describe(
        'Free JSON object (at most 16 KB): plan, country, age band... Never sent to an LLM unless configured.',
      ),
  })
  .meta({
    id: 'UserWrite',
    description: 'A user profile as a client sends it.',
    examples: [{ attributes: { plan: 'premium', country: 'FR' } }],
  });

/** A user's fields as an upsert-mode import holds them: `attributes` merge key by key (null removes one). */
export const userPatchSchema = z.strictObject({
  attributes: jsonObjectPatchSchema().nullable().optional(),
});

export const userSchema = z
  .object({
    id: idSchema,
    attributes: z.record(z.string(), z.unknown()),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({
    id: 'User',
    description: 'A user as stored.',
    examples: [
      {
        id: 'user-7',
        attributes: { plan: 'premium', country: 'FR' },
        createdAt: '2026-11-01T12:00:00.000Z',
        updatedAt: '2026-11-01T12:00:00.000Z',
      },
    ],
  });

export type User = z.infer<typeof userSchema>;

const exportedChatSessionSchema = z
  .object({
    id: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    expiresAt: z.string().describe('Deleted after this instant unless the conversation goes on.'),
    turns: z.array(
      z.object({
        at: z.string(),
        message: z.string().describe('What the user wrote.'),
        appliedQuery: z
          .record(z.string(), z.unknown())
          .describe('How the message was understood (a ChatQuery, as stored then).'),
        itemIds: z.array(z.string()).describe('The items returned, in order.'),
        reply: z.string(),
      }),
    ),
  })
  .meta({ id: 'ExportedChatSession', description: 'A conversation with POST /v1/chat, oldest turn first.' });

export const userExportSchema = z
  .object({
    exportedAt: z.string(),
    user: userSchema,
    events: z.array(eventSchema).describe('Every event of the user, oldest first.'),
    chatSessions: z
      .array(exportedChatSessionSchema)
      .describe('Every stored chat session of the user, oldest first (expired ones until they are purged).'),
    feedback: z
      .array(
        z.object({
          id: z.string(),
          itemId: z.string(),
          recommendationId: z.string().nullable(),
          target: z.enum(['item', 'explanation']),
          value: z.enum(['up', 'down', 'not_interested']),
          createdAt: z.string(),
        }),
      )
      .describe('Every feedback the user gave (POST /v1/feedback), oldest first.'),
  })
  .meta({ id: 'UserExport', description: 'Everything Marquee stores about one user.' });
