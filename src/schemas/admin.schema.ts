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
    coveredSeq: z
      .string()
      .describe('The latest event (its sequence number) the training read: it covers every event up to it.'),
    model: z
      .enum(['item-knn', 'rp3beta', 'ease'])
      .describe(
        'The collaborative model trained: MARQUEE_COLLABORATIVE_MODEL, except item-knn instead of ease past 5,000 items.',
      ),
    trainedAt: z.string().describe('When the new model was stored.'),
    durationMs: z.number().int().describe('How long the training took.'),
    ranker: z
      .object({
        id: z.string(),
        serving: z.boolean().describe('Whether it orders pages from now on.'),
        verdict: z.string().describe('Why it serves, or why the ranker before it (or the blend) stays.'),
        trees: z.number().int(),
        seconds: z.number().describe('Its share of the training time.'),
      })
      .optional()
      .describe('The learned ranker this training made (absent when MARQUEE_RANKER is blend).'),
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
        coveredSeq: '1000209',
        model: 'item-knn',
        trainedAt: '2026-11-20T21:03:00.000Z',
        durationMs: 14210,
      },
    ],
  });

const inMemoryPartSchema = z.object({
  held: z.boolean().describe('In memory; false: pages read it from the database.'),
  items: z.number().int().describe('Items it holds (vectors, or lists).'),
  bytes: z.number().int().describe('About how much memory it takes.'),
  loadedAt: z.string().nullable().describe('When it was last loaded whole.'),
  lastLoadMs: z.number().int().nullable().describe('How long that load took.'),
  reason: z.string().nullable().describe('Why it is not held, when it is not.'),
});

const rankerDescriptionSchema = z.object({
  id: z.string(),
  trainedAt: z.string(),
  serving: z.boolean(),
  verdict: z.string().describe('Why it serves, or why it does not.'),
  heldBack: z
    .record(z.string(), z.number())
    .describe(
      'NDCG@10 on the users held back from its trees: `ranker`, the `fusion` it starts from, each collaborative ' +
        'source alone, and `previous` (the ranker in service then).',
    ),
  heldBackUsers: z.number().int(),
  heldBackLater: z
    .record(z.string(), z.number())
    .describe(
      'The same comparison on a global cut in time: models from the events before the latest 10 %, the ' +
        "held-back users' later events as labels (reported; the promotion does not use it yet).",
    ),
  heldBackLaterUsers: z.number().int(),
  impressionLists: z
    .number()
    .int()
    .describe('Shown lists with a click it learned from (impressions joined to the events that followed).'),
  clicks: z
    .number()
    .int()
    .describe('The clicks (plays, likes...) on those lists, weighted for position bias.'),
  trees: z.number().int(),
  trainingSeconds: z.number(),
  strongestFeatures: z
    .array(z.object({ feature: z.string(), share: z.number() }))
    .describe('The features its trees lean on most, with their share of the split gain.'),
});

export const modelStatusSchema = z
  .object({
    automatic: z
      .boolean()
      .describe('Whether trainings start by themselves (MARQUEE_MODEL_REFRESH_MINUTES > 0).'),
    model: z
      .enum(['item-knn', 'rp3beta', 'ease'])
      .nullable()
      .describe('The collaborative model in service; null before the first training.'),
    trainedAt: z.string().nullable().describe('When the model in service finished training.'),
    eventsCovered: z.number().int().describe('Positive events the model in service was trained on.'),
    coveredSeq: z
      .string()
      .nullable()
      .describe('The latest event (sequence number) it covers: every event up to it was read.'),
    eventsSince: z.number().int().describe('Events of any type stored after it.'),
    lastDurationMs: z.number().int().nullable().describe('How long the last training took.'),
    lastReason: z.string().nullable().describe('Why the last training ran.'),
    training: z
      .object({
        running: z.boolean(),
        startedAt: z.string().nullable(),
        reason: z.string().nullable(),
      })
      .describe('The training under way, if any.'),
    next: z
      .object({
        reason: z.string(),
        at: z.string().nullable().describe('When it would start as things stand; null when nothing is due.'),
      })
      .describe('Why and when the next training starts (or why none is due).'),
    lastError: z
      .object({ at: z.string(), reason: z.string(), message: z.string() })
      .nullable()
      .describe('The last failed training, when it failed after the last success.'),
    ranker: z
      .object({
        setting: z.enum(['learned', 'blend']).describe('MARQUEE_RANKER.'),
        serving: rankerDescriptionSchema
          .nullable()
          .describe('The ranker in service; null while pages are blended.'),
        latest: rankerDescriptionSchema
          .nullable()
          .describe('The latest ranker trained, whether or not it serves: its verdict says why.'),
      })
      .describe(
        'The learned ranker: a new one serves only when it ranks the users held back from its training better ' +
          'than the fusion it starts from, each collaborative source alone, and the ranker in service.',
      ),
    inMemory: z
      .object({
        neighbourLists: inMemoryPartSchema,
        itemVectors: inMemoryPartSchema,
        vectorIndex: inMemoryPartSchema,
        ranker: inMemoryPartSchema,
        searchIndex: inMemoryPartSchema.describe(
          'The search documents as an inverted index: searches without filters rank there (phrases and ' +
            'filtered searches in Postgres).',
        ),
        itemCatalog: inMemoryPartSchema.describe(
          "Every item's title, genres, series, availability window, date added and editorial boost: pages " +
            'without filters check their candidates there (filtered pages in Postgres).',
        ),
      })
      .describe(
        'What the process that answered holds in memory (each process holds its own copy of what the database ' +
          'holds, reloaded within about a second of a change; up to MARQUEE_MODEL_MEMORY_MB).',
      ),
  })
  .meta({
    id: 'ModelStatus',
    examples: [
      {
        automatic: true,
        model: 'item-knn',
        trainedAt: '2026-12-01T20:03:00.000Z',
        eventsCovered: 80000,
        coveredSeq: '80000',
        eventsSince: 0,
        lastDurationMs: 1840,
        lastReason: 'catch-up: the last training started while events were arriving',
        training: { running: false, startedAt: null, reason: null },
        next: { reason: 'up to date: the last training covers every event', at: null },
        lastError: null,
        ranker: {
          setting: 'learned',
          serving: {
            id: '3',
            trainedAt: '2026-12-01T20:03:00.000Z',
            serving: true,
            verdict:
              'serving: NDCG@10 0.209 on 175 held-back queries, against 0.184 for item-knn, the best alternative',
            heldBack: { ranker: 0.209, fusion: 0.174, 'item-knn': 0.184, rp3beta: 0.159, ease: 0.158 },
            heldBackUsers: 175,
            heldBackLater: { ranker: 0.121, fusion: 0.118, 'item-knn': 0.117, rp3beta: 0.11, ease: 0.124 },
            heldBackLaterUsers: 41,
            impressionLists: 0,
            clicks: 0,
            trees: 189,
            trainingSeconds: 62.1,
            strongestFeatures: [
              { feature: 'rp3beta.rank', share: 0.38 },
              { feature: 'rp3beta.relative', share: 0.27 },
            ],
          },
          latest: null,
        },
        inMemory: {
          neighbourLists: {
            held: true,
            items: 3706,
            bytes: 3326720,
            loadedAt: '2026-12-01T20:03:01.000Z',
            lastLoadMs: 240,
            reason: null,
          },
          itemVectors: {
            held: true,
            items: 3883,
            bytes: 1383852,
            loadedAt: '2026-12-01T19:58:00.000Z',
            lastLoadMs: 410,
            reason: null,
          },
          vectorIndex: {
            held: true,
            items: 3883,
            bytes: 1739584,
            loadedAt: '2026-12-01T19:58:01.000Z',
            lastLoadMs: 460,
            reason: null,
          },
          ranker: {
            held: true,
            items: 1682,
            bytes: 1452000,
            loadedAt: '2026-12-01T20:03:01.000Z',
            lastLoadMs: 35,
            reason: null,
          },
          searchIndex: {
            held: true,
            items: 3883,
            bytes: 2100000,
            loadedAt: '2026-12-01T19:58:01.000Z',
            lastLoadMs: 120,
            reason: null,
          },
          itemCatalog: {
            held: true,
            items: 3883,
            bytes: 810000,
            loadedAt: '2026-12-01T19:58:01.000Z',
            lastLoadMs: 60,
            reason: null,
          },
        },
      },
    ],
  });
