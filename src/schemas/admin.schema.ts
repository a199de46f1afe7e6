import { z } from 'zod';
import { SCOPES } from '../auth/access.ts';
import { USER_TOKEN_DEFAULT_SECONDS, USER_TOKEN_MAX_SECONDS } from '../services/user-tokens.service.ts';
import { idSchema, nonBlankTextSchema } from './common.schema.ts';

const scopeSchema = z.enum(SCOPES, { message: `must be one of ${SCOPES.join(', ')}` });

export const apiKeyCreateSchema = z
  .strictObject({
    name: nonBlankTextSchema(100).describe('What the key is for: "web frontend", "nightly import".'),
    scopes: z
      .array(scopeSchema)
      .min(1)
      .max(SCOPES.length)
      .describe('One or more of admin, ingest, client, read.'),
  })
  .meta({ id: 'ApiKeyCreate', examples: [{ name: 'web frontend', scopes: ['client'] }] });

export const apiKeySchema = z
  .object({
    id: z.string().describe("The key's visible prefix; the secret is never shown again."),
    name: z.string(),
    scopes: z.array(scopeSchema),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable().describe('Updated at most once a minute.'),
    revokedAt: z.string().nullable(),
  })
  .meta({
    id: 'ApiKey',
    examples: [
      {
        id: 'mq_1a2b3c4d',
        name: 'web frontend',
        scopes: ['client'],
        createdAt: '2026-11-01T12:00:00.000Z',
        lastUsedAt: null,
        revokedAt: null,
      },
    ],
  });

export const createdApiKeySchema = z
  .object({
    key: z.string().describe('The secret: shown once, store it now. Send it as Authorization: Bearer <key>.'),
    apiKey: apiKeySchema,
  })
  .meta({ id: 'CreatedApiKey' });

export const apiKeyListSchema = z.object({ keys: z.array(apiKeySchema) }).meta({ id: 'ApiKeyList' });

export const apiKeyIdParamsSchema = z.strictObject({
  keyId: z.string().regex(/^mq_[0-9a-f]{8}$/, { message: 'must be a key id like mq_1a2b3c4d' }),
});

export const userTokenRequestSchema = z
  .strictObject({
    userId: idSchema.describe('The user the token is for.'),
    expiresInSeconds: z
      .number()
      .int()
      .min(60)
      .max(USER_TOKEN_MAX_SECONDS)
      .default(USER_TOKEN_DEFAULT_SECONDS)
      .describe(`Lifetime, 60 s to 24 h (default ${USER_TOKEN_DEFAULT_SECONDS / 60} minutes).`),
  })
  .meta({ id: 'UserTokenRequest', examples: [{ userId: 'user-7', expiresInSeconds: 3600 }] });

export const userTokenSchema = z
  .object({
    token: z.string().describe('Send as Authorization: Bearer <token> from the browser or app.'),
    userId: z.string(),
    expiresAt: z.string(),
  })
  .meta({ id: 'UserToken' });

export const trainingSummarySchema = z
  .object({
    skipped: z.literal(false),
    events: z.number().int().describe('Positive events read: every event type with a positive weight.'),
    users: z.number().int().describe('Users with at least one positive event.'),
    items: z.number().int().describe('Items of the catalog with at least one positive event.'),
    pairs: z.number().int().describe('Distinct (user, item) pairs the collaborative model learnt from.'),
    neighbourRows: z.number().int().describe('Items given a list of similar items.'),
    statsRows: z.number().int().describe('Items given popularity and trending scores.'),
    model: z
      .enum(['item-knn', 'rp3beta', 'ease'])
      .describe(
        'The collaborative model trained: MARQUEE_COLLABORATIVE_MODEL, except item-knn instead of ease past 5,000 items.',
      ),
    trainedAt: z.string().describe('When the new model was stored.'),
    durationMs: z.number().int().describe('How long the training took.'),
  })
  .meta({
    id: 'TrainingSummary',
    examples: [
      {
        skipped: false,
        events: 1000209,
        users: 6040,
        items: 3706,
        pairs: 1000209,
        neighbourRows: 3706,
        statsRows: 3706,
        model: 'item-knn',
        trainedAt: '2026-11-20T21:03:00.000Z',
        durationMs: 14210,
      },
    ],
  });
