import { z } from 'zod';
import { EVENT_TYPES } from './event-types.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const EMBEDDERS = ['local', 'openai'] as const;
/** Item fields the embedding text can be made of, in the order they are written. */
export const EMBEDDABLE_FIELDS = [
  'title',
  'type',
  'genres',
  'tags',
  'credits',
  'description',
  'language',
  'releaseYear',
  'maturityRating',
  'regions',
] as const;
export type EmbeddableField = (typeof EMBEDDABLE_FIELDS)[number];
const DEFAULT_EMBEDDING_FIELDS = 'title,type,genres,tags,credits,description';
const DEFAULT_MODELS = { local: 'marquee-local-v1', openai: 'text-embedding-3-small' } as const;
export const LLM_MODES = ['auto', 'on', 'off'] as const;
export const STRUCTURED_OUTPUT_MODES = ['auto', 'json_schema', 'json_object'] as const;
/** The local embedder's 100 semantic dimensions need room for lexical features beside them. */
export const LOCAL_EMBEDDER_MIN_DIMENSION = 128;
/** hnsw.ef_search when a database config gives none (MARQUEE_HNSW_EF_SEARCH's default). */
export const DEFAULT_HNSW_EF_SEARCH = 100;

// Docker env files and shells often leave a variable set to the empty string: treat that as unset.
const optionalString = () =>
  z.preprocess((value) => (value === '' ? undefined : value), z.string().trim().min(1).optional());

const urlWithProtocols = (protocols: readonly string[]) =>
  z.preprocess(
    (value) => (value === '' ? undefined : value),
    z
      .url({ message: 'must be a URL' })
      .refine((value) => !URL.canParse(value) || protocols.includes(new URL(value).protocol), {
        message: `must start with ${protocols.map((protocol) => `${protocol}//`).join(' or ')}`,
      })
      .optional(),
  );

const modelName = (fallback: string) =>
  z.preprocess(
    (value) => (value === '' || value === undefined ? fallback : value),
    z
      .string()
      .regex(/^[A-Za-z0-9._:/@-]{1,128}$/, { message: 'must be 1 to 128 characters from A-Za-z0-9._:/@-' }),
  );

const integerInRange = (min: number, max: number, fallback: number) =>
  z.preprocess(
    (value) => (value === undefined || value === '' ? fallback : value),
    z.coerce
      .number({ message: 'must be a number' })
      .int({ message: 'must be a whole number' })
      .min(min, { message: `must be at least ${min}` })
      .max(max, { message: `must be at most ${max}` }),
  );

/** Candidate sources of the recommender, as named in `reasons` and in weight settings. */
export const CANDIDATE_SOURCES = [
  'collaborative',
  'vector',
  'trending',
  'popular',
  'fresh',
  'editorial',
  'session',
] as const;
export type CandidateSource = (typeof CANDIDATE_SOURCES)[number];
export const COLLABORATIVE_MODELS = ['item-knn', 'rp3beta', 'ease'] as const;
/** How a page is ordered: the learned ranker when one serves (else the blend), or always the blend. */
export const RANKERS = ['learned', 'blend'] as const;
export type RankerChoice = (typeof RANKERS)[number];
// Strongly positive: finishing, liking, buying; rate is centred on the user's own mean rating, so a rating
// below it counts against; weakly positive: starting, viewing, clicking; negative: skips and dislikes.
const DEFAULT_EVENT_WEIGHTS =
  'complete=1,like=1,purchase=1,rate=1,add_to_list=0.6,share=0.6,play=0.4,progress=0.3,click=0.15,view=0.1,remove_from_list=-0.3,skip=-0.5,dislike=-1';
const DEFAULT_SOURCE_WEIGHTS =
  'collaborative=1,vector=0.15,session=1,trending=0.05,popular=0.1,fresh=0.1,editorial=0.3';
const DEFAULT_CONSUMED_EVENT_TYPES = 'play,progress,complete,like,dislike,rate,purchase,skip';

/** `name=number,name=number` with names from `names`, into a record (absent names left out). */
const weightList = <Name extends string>(
  names: readonly Name[],
  fallback: string,
  min: number,
  max: number,
) =>
  z.preprocess(
    (value) => (typeof value === 'string' && value.trim() !== '' ? value : fallback),
    z.string().transform((text, context) => {
      const weights: Partial<Record<Name, number>> = {};
      for (const part of text
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean)) {
        const [name, raw] = part.split('=').map((entry) => entry.trim());
        const weight = Number(raw);
        if (!name || !(names as readonly string[]).includes(name)) {
          context.addIssue({ code: 'custom', message: `unknown name "${name}": use ${names.join(', ')}` });
        } else if (
          raw === undefined ||
          raw === '' ||
          !Number.isFinite(weight) ||
          weight < min ||
          weight > max
        ) {
          context.addIssue({ code: 'custom', message: `${name} must be a number from ${min} to ${max}` });
        } else weights[name as Name] = weight;
      }
      return weights;
    }),
  );

const nameList = <Name extends string>(names: readonly Name[], fallback: string) =>
  z.preprocess(
    (value) =>
      (typeof value === 'string' && value.trim() !== '' ? value : fallback)
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean),
    z.array(z.enum(names as [Name, ...Name[]], { message: `each is one of ${names.join(', ')}` })),
  );

const numberInRange = (min: number, max: number, fallback: number) =>
  z.preprocess(
    (value) => (value === undefined || value === '' ? fallback : value),
    z.coerce
      .number({ message: 'must be a number' })
      .min(min, { message: `must be at least ${min}` })
      .max(max, { message: `must be at most ${max}` }),
  );

/** A/B test variants: a name, a share of users, and what it changes. */
const variantSchema = z.strictObject({
  share: z.number().min(0).max(100).describe('Relative share of users (weights need not sum to 100).'),
  weights: z.partialRecord(z.enum(CANDIDATE_SOURCES), z.number().min(0).max(100)).optional(),
  diversity: z.number().min(0).max(1).optional(),
  ranker: z
    .enum(RANKERS)
    .optional()
    .describe('learned (when one serves) or blend; the default is MARQUEE_RANKER.'),
});
const variantsSchema = z.preprocess(
  (value) => {
    if (value === undefined || value === '') return { default: { share: 100 } };
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  },
  z
    .record(
      z.string().regex(/^[A-Za-z0-9._-]{1,32}$/, { message: 'names are 1 to 32 of A-Za-z0-9._-' }),
      variantSchema,
      {
        message:
          'must be a JSON object like {"control":{"share":50},"more-vector":{"share":50,"weights":{"vector":1}}}',
      },
    )
    .refine((variants) => Object.values(variants).some((variant) => variant.share > 0), {
      message: 'at least one variant needs a share above 0',
    }),
);

const environmentSchema = z.object({
  PORT: integerInRange(1, 65_535, 8080),
  HOST: z.preprocess((value) => (value === '' ? undefined : value), z.string().min(1).default('127.0.0.1')),
  MARQUEE_DATA_DIR: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z.string().min(1).default('./.marquee'),
  ),
  DATABASE_URL: urlWithProtocols(['postgres:', 'postgresql:']),
  MARQUEE_DATABASE_POOL_SIZE: integerInRange(1, 200, 10),
  // Candidates an HNSW search keeps (pgvector's hnsw.ef_search, its default 40): more is better recall and
  // slower queries. 100 gave recall@10 0.99 on the netflix catalog (test/db/vector-recall.test.ts).
  MARQUEE_HNSW_EF_SEARCH: integerInRange(10, 1000, DEFAULT_HNSW_EF_SEARCH),
  REDIS_URL: urlWithProtocols(['redis:', 'rediss:']),
  MARQUEE_REDIS_PREFIX: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,64}$/, { message: 'must be 1 to 64 characters from A-Za-z0-9._:-' })
      .default('marquee:'),
  ),
  OPENAI_API_KEY: optionalString(),
  OPENAI_BASE_URL: urlWithProtocols(['http:', 'https:']),
  LOG_LEVEL: z.preprocess(
    (value) =>
      value === '' || value === undefined ? 'info' : typeof value === 'string' ? value.toLowerCase() : value,
    z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }),
  ),
  MARQUEE_ADMIN_KEY: z.preprocess(
    (value) => (value === '' ? undefined : value),
    // 32 characters or more: a shorter secret is within reach of guessing, rate limits or not.
    z.string().min(32, { message: 'must be at least 32 characters' }).optional(),
  ),
  MARQUEE_EMBEDDER: z.preprocess(
    (value) => (value === '' || value === undefined ? 'local' : value),
    z.enum(EMBEDDERS, { message: `must be one of ${EMBEDDERS.join(', ')}` }),
  ),
  MARQUEE_EMBEDDING_MODEL: z.preprocess(
    (value) => (value === '' ? undefined : value),
    z
      .string()
      .regex(/^[A-Za-z0-9._:/@-]{1,128}$/, { message: 'must be 1 to 128 characters from A-Za-z0-9._:/@-' })
      .optional(),
  ),
  MARQUEE_EMBEDDING_DIMENSION: integerInRange(2, 4000, 256),
  MARQUEE_EMBEDDING_FIELDS: z.preprocess(
    (value) =>
      (typeof value === 'string' && value.trim() !== '' ? value : DEFAULT_EMBEDDING_FIELDS)
        .split(',')
        .map((field) => field.trim())
        .filter(Boolean),
    z
      .array(z.enum(EMBEDDABLE_FIELDS, { message: `each field is one of ${EMBEDDABLE_FIELDS.join(', ')}` }))
      .min(1, { message: 'name at least one field' }),
  ),
  // The openai embedder: inputs per request, estimated tokens per request, requests in flight.
  MARQUEE_EMBEDDING_BATCH_SIZE: integerInRange(1, 2048, 128),
  MARQUEE_EMBEDDING_BATCH_TOKENS: integerInRange(100, 1_000_000, 60_000),
  MARQUEE_EMBEDDING_CONCURRENCY: integerInRange(1, 64, 4),
  MARQUEE_OPENAI_TIMEOUT_MS: integerInRange(100, 600_000, 30_000),
  MARQUEE_OPENAI_MAX_RETRIES: integerInRange(0, 10, 5),
  // Language models (explanations and chat). `auto` uses them when OPENAI_API_KEY or OPENAI_BASE_URL is set;
  // otherwise explanations come from templates and chat from the rule-based parser.
  MARQUEE_LLM: z.preprocess(
    (value) => (value === '' || value === undefined ? 'auto' : value),
    z.enum(LLM_MODES, { message: `must be one of ${LLM_MODES.join(', ')}` }),
  ),
  MARQUEE_EXPLAIN_MODEL: modelName('gpt-4o-mini'),
  MARQUEE_CHAT_MODEL: modelName('gpt-4o-mini'),
  // `json_schema` (strict structured output), `json_object` (JSON mode, validated here) for servers without
  // it, or `auto`: JSON schema first, JSON mode from the first answer that refuses it.
  MARQUEE_LLM_STRUCTURED_OUTPUT: z.preprocess(
    (value) => (value === '' || value === undefined ? 'auto' : value),
    z.enum(STRUCTURED_OUTPUT_MODES, { message: `must be one of ${STRUCTURED_OUTPUT_MODES.join(', ')}` }),
  ),
  // A page's explanations wait this long at most for the LLM; the items still missing get templates.
  MARQUEE_EXPLAIN_BUDGET_MS: integerInRange(100, 60_000, 2_500),
  // explain=async: how long the stream of a page's explanations waits for the LLM (the page is already shown).
  MARQUEE_EXPLAIN_STREAM_BUDGET_MS: integerInRange(100, 300_000, 15_000),
  // Chat: how long the LLM may take to understand a message (then the rule-based parser does) and to write
  // the reply (then the reply stops where it is, or the template writes it if nothing was written).
  MARQUEE_CHAT_BUDGET_MS: integerInRange(100, 300_000, 5_000),
  // Output tokens one call may write: a page of 10 sentences of 240 characters is about 800.
  MARQUEE_LLM_MAX_TOKENS: integerInRange(50, 32_000, 1_500),
  // Tokens (prompt + completion) one API key may spend per UTC day; 0: no limit.
  MARQUEE_LLM_DAILY_TOKENS_PER_KEY: integerInRange(0, 1_000_000_000, 2_000_000),
  // LLM calls in flight per process, and calls waiting for a slot; past both, the call falls back at once.
  MARQUEE_LLM_CONCURRENCY: integerInRange(1, 256, 8),
  MARQUEE_LLM_QUEUE: integerInRange(0, 10_000, 32),
  // Consecutive failures (errors, time-outs, invalid output) that open the circuit, and how long it stays open.
  MARQUEE_LLM_CIRCUIT_FAILURES: integerInRange(1, 1_000, 5),
  MARQUEE_LLM_CIRCUIT_OPEN_SECONDS: integerInRange(1, 3_600, 30),
  MARQUEE_LLM_MAX_RETRIES: integerInRange(0, 10, 1),
  MARQUEE_EXPLANATION_CACHE_SECONDS: integerInRange(0, 2_592_000, 86_400),
  // Whether the user's own attributes (age band, country...) may be sent to the LLM for explanations.
  MARQUEE_EXPLAIN_USER_ATTRIBUTES: z.preprocess(
    (value) => (value === '' || value === undefined ? 'false' : value),
    z.enum(['true', 'false'], { message: 'must be true or false' }).transform((value) => value === 'true'),
  ),
  // Records per import batch: one transaction and one job each.
  MARQUEE_IMPORT_BATCH_SIZE: integerInRange(1, 10_000, 500),
  // Events per events-import batch. An events batch costs mostly per distinct item and user it touches (the
  // live item statistics, the profiles), so larger batches than for items cost less per event: 2,000 made
  // a 200,000-event import 25 % faster embedded than 500 (bench:import --scenarios events).
  MARQUEE_IMPORT_EVENT_BATCH_SIZE: integerInRange(1, 10_000, 2_000),
  // Bulk imports are bounded while they stream, whatever the upload: the most bytes one import may hold once
  // decompressed (past it the import stops with 413, keeping the batches before), and the most bytes of one
  // record (an NDJSON line, a CSV row, an element of a JSON array; a longer one is rejected by line). Both
  // bound memory and CPU against a gzip bomb: 1 MB of gzip can hold 1 GiB.
  MARQUEE_IMPORT_MAX_BYTES: integerInRange(1_024, Number.MAX_SAFE_INTEGER, 16 * 1024 ** 3),
  MARQUEE_IMPORT_MAX_RECORD_BYTES: integerInRange(1_024, 256 * 1024 ** 2, 1024 ** 2),
  // An import that shows no progress for this long (an upload cut mid-stream, a batch whose job was lost) is
  // taken up again or failed with its reason by the sweeper, so that every import ends.
  MARQUEE_IMPORT_STALL_SECONDS: integerInRange(1, 86_400, 300),
  // Served mode (Redis): import batches are BullMQ jobs. Batches a reader may have queued ahead of the workers.
  MARQUEE_IMPORT_MAX_QUEUED_BATCHES: integerInRange(1, 1_000, 8),
  // Jobs each `marquee worker` runs at once; jobs each API process runs too (0: leave them to the workers).
  MARQUEE_WORKER_CONCURRENCY: integerInRange(1, 64, 2),
  MARQUEE_API_JOB_CONCURRENCY: integerInRange(0, 64, 1),
  // A job whose worker stops renewing its lock this long (it died) goes back to the queue for another worker.
  MARQUEE_JOB_LOCK_MS: integerInRange(1_000, 600_000, 30_000),
  // The recommender: what each event type says about taste, how fast it fades, which events mean "seen".
  MARQUEE_EVENT_WEIGHTS: weightList(EVENT_TYPES, DEFAULT_EVENT_WEIGHTS, -10, 10),
  MARQUEE_PROFILE_HALF_LIFE_DAYS: numberInRange(0.01, 36_500, 90),
  MARQUEE_PROFILE_INTERESTS: integerInRange(1, 8, 3),
  MARQUEE_CONSUMED_EVENT_TYPES: nameList(EVENT_TYPES, DEFAULT_CONSUMED_EVENT_TYPES),
  MARQUEE_SOURCE_WEIGHTS: weightList(CANDIDATE_SOURCES, DEFAULT_SOURCE_WEIGHTS, 0, 100),
  MARQUEE_DIVERSITY: numberInRange(0, 1, 0.1),
  MARQUEE_MAX_PER_SERIES: integerInRange(0, 100, 2),
  MARQUEE_MAX_PER_GENRE: integerInRange(0, 100, 0),
  // Off by default: on movielens-100k one slot in 10 cost NDCG@10 0.007 (0.160 -> 0.153); turn it on to keep
  // learning about tastes a profile does not show yet.
  MARQUEE_EXPLORATION_SLOTS: integerInRange(0, 10, 0),
  // One position in 10 for the closest new item (added since the last training) when there is one: the
  // collaborative sources and the learned ranker cannot know it yet. Movielens evaluations have none.
  MARQUEE_NEW_ITEM_SLOTS: integerInRange(0, 10, 1),
  MARQUEE_VARIANTS: variantsSchema,
  MARQUEE_COLLABORATIVE_MODEL: z.preprocess(
    (value) => (value === '' || value === undefined ? 'item-knn' : value),
    z.enum(COLLABORATIVE_MODELS, { message: `must be one of ${COLLABORATIVE_MODELS.join(', ')}` }),
  ),
  MARQUEE_COLLABORATIVE_NEIGHBOURS: integerInRange(5, 1_000, 100),
  // learned: each training also trains the learned ranker, which orders pages once it beats the blend on
  // held-back users; blend: no ranker is trained and pages keep the hand-set weights.
  MARQUEE_RANKER: z.preprocess(
    (value) => (value === '' || value === undefined ? 'learned' : value),
    z.enum(RANKERS, { message: `must be one of ${RANKERS.join(', ')}` }),
  ),
  // Trainings start by themselves (issue 18): the first once events exist, then when the events since the
  // last one reach this share of all events, or when the refresh interval passes with any new event. 0 minutes:
  // no automatic training at all (POST /v1/admin/models/train, `marquee train`).
  MARQUEE_MODEL_REFRESH_MINUTES: integerInRange(0, 10_080, 60),
  MARQUEE_MODEL_RETRAIN_SHARE: numberInRange(0.001, 1, 0.1),
  // A training waits for writes to pause this long, but no longer than the maximum after the first new event.
  MARQUEE_MODEL_TRAIN_DEBOUNCE_SECONDS: numberInRange(0, 3_600, 3),
  MARQUEE_MODEL_TRAIN_MAX_WAIT_SECONDS: numberInRange(0, 86_400, 30),
  // Each process holds the neighbour lists and item vectors in memory up to this size (issue 20); beyond it, or
  // at 0, pages read them from the database. About 30 MB at 100,000 items with 256-d vectors and 100 neighbours.
  MARQUEE_MODEL_MEMORY_MB: integerInRange(0, 65_536, 1_024),
  MARQUEE_RECOMMENDATION_CACHE_SECONDS: integerInRange(0, 86_400, 300),
  MARQUEE_SIMILAR_CACHE_SECONDS: integerInRange(0, 604_800, 3_600),
  MARQUEE_CORS_ORIGINS: z.preprocess(
    (value) =>
      typeof value === 'string'
        ? value
            .split(',')
            .map((origin) => origin.trim())
            .filter(Boolean)
        : [],
    z.array(
      z
        .url({ message: 'must be a comma-separated list of origins like https://app.example.com' })
        .refine((origin) => URL.canParse(origin) && new URL(origin).origin === origin, {
          message: 'each origin is scheme://host[:port], without a path',
        }),
    ),
  ),
  // Requests per minute, per API key (by its most generous scope), per user token, per IP without one.
  MARQUEE_RATE_LIMIT_ADMIN: integerInRange(1, 10_000_000, 6_000),
  MARQUEE_RATE_LIMIT_INGEST: integerInRange(1, 10_000_000, 6_000),
  MARQUEE_RATE_LIMIT_CLIENT: integerInRange(1, 10_000_000, 12_000),
  MARQUEE_RATE_LIMIT_READ: integerInRange(1, 10_000_000, 3_000),
  MARQUEE_RATE_LIMIT_USER: integerInRange(1, 10_000_000, 600),
  MARQUEE_RATE_LIMIT_ANONYMOUS: integerInRange(1, 10_000_000, 300),
  // Failed authentications a minute from one client address before it is answered 429 without a lookup.
  MARQUEE_AUTH_FAILURES_PER_MINUTE: integerInRange(1, 1_000_000, 30),
  // Behind a load balancer: `true` trusts X-Forwarded-For whatever sent it, a number trusts that many proxy
  // hops, a comma-separated list trusts those addresses or CIDR ranges. Unset, the socket's peer is the
  // client (a proxy's one address would then share one anonymous rate limit for everyone).
  MARQUEE_TRUST_PROXY: z.preprocess(
    (value) => (value === '' || value === undefined ? 'false' : value),
    z
      .string()
      .regex(/^(true|false|\d{1,2}|[0-9a-fA-F.:/]+(\s*,\s*[0-9a-fA-F.:/]+)*)$/, {
        message: 'must be true, false, a number of hops, or comma-separated addresses or CIDR ranges',
      })
      .transform((value): boolean | number | string =>
        value === 'true' ? true : value === 'false' ? false : /^\d+$/.test(value) ? Number(value) : value,
      ),
  ),
  // Longest a request may take from routing to the last byte of its answer; past it, 503.
  MARQUEE_REQUEST_TIMEOUT_MS: integerInRange(100, 600_000, 30_000),
  // Callers of one process waiting for a database connection beyond which a new request is refused at once
  // with 503 busy (load shedding), rather than queued until the pool's connection time-out.
  MARQUEE_MAX_DATABASE_QUEUE: integerInRange(1, 100_000, 64),
  // Hours a chat session lives after its last message; an expired one is a 404 and is purged hourly.
  MARQUEE_CHAT_SESSION_TTL_HOURS: integerInRange(1, 8_760, 24),
  MARQUEE_EVENT_RETENTION_DAYS: z.preprocess(
    (value) => (value === '' || value === undefined ? undefined : value),
    z.coerce
      .number({ message: 'must be a number of days' })
      .int({ message: 'must be a whole number of days' })
      .min(1, { message: 'must be at least 1' })
      .max(36_500)
      .optional(),
  ),
});

export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly logLevel: LogLevel;
  readonly adminKey: string | undefined;
  readonly database: (
    | { readonly kind: 'embedded'; /** A folder, or 'memory'. */ readonly dataDir: string }
    | { readonly kind: 'postgres'; readonly url: string; readonly poolSize: number }
  ) & {
    /** hnsw.ef_search on every connection; DEFAULT_HNSW_EF_SEARCH when unset (hand-made test configs). */
    readonly hnswEfSearch?: number;
  };
  readonly redis: { readonly url: string; readonly keyPrefix: string } | undefined;
  readonly openai: { readonly apiKey: string | undefined; readonly baseUrl: string | undefined };
  readonly embedding: {
    readonly provider: (typeof EMBEDDERS)[number];
    readonly model: string;
    readonly dimension: number;
    readonly fields: readonly EmbeddableField[];
    readonly batchSize: number;
    readonly batchTokens: number;
    readonly concurrency: number;
    readonly timeoutMs: number;
    readonly maxRetries: number;
  };
  /** Language models; undefined when explanations use templates and chat the rule-based parser. */
  readonly llm: LlmConfig | undefined;
  readonly explanations: {
    /** Total time a page waits for LLM explanations. */
    readonly budgetMs: number;
    /** Time an explain=async stream waits for the LLM. */
    readonly streamBudgetMs: number;
    readonly cacheSeconds: number;
    readonly includeUserAttributes: boolean;
  };
  readonly importBatchSize: number;
  readonly importEventBatchSize: number;
  readonly imports: {
    /** Decompressed bytes one import may hold. */
    readonly maxBytes: number;
    /** Bytes of one record (line, row, array element). */
    readonly maxRecordBytes: number;
    /** An import without progress for this long is resumed or failed. */
    readonly stallSeconds: number;
  };
  readonly jobs: {
    readonly maxQueuedBatches: number;
    readonly workerConcurrency: number;
    readonly apiConcurrency: number;
    readonly lockMs: number;
  };
  readonly recommender: RecommenderConfig;
  readonly corsOrigins: readonly string[];
  /** Fastify's trustProxy: which proxies' X-Forwarded-For headers name the client. */
  readonly trustProxy: boolean | number | string;
  readonly requestTimeoutMs: number;
  /** Callers waiting for a database connection beyond which requests are shed with 503 busy. */
  readonly maxDatabaseQueue: number;
  /** Events older than this many days are deleted on a schedule; undefined keeps them forever. */
  readonly eventRetentionDays: number | undefined;
  readonly chat: {
    /** Time the LLM has to parse a message, and to write a reply. */
    readonly budgetMs: number;
    /** Hours a chat session lives after its last message. */
    readonly sessionTtlHours: number;
  };
  readonly rateLimits: {
    /** Failed authentications a minute per client address. */
    readonly authFailures: number;
    readonly admin: number;
    readonly ingest: number;
    readonly client: number;
    readonly read: number;
    readonly user: number;
    readonly anonymous: number;
  };
}

export interface LlmConfig {
  readonly apiKey: string | undefined;
  readonly baseUrl: string | undefined;
  readonly explainModel: string;
  readonly chatModel: string;
  readonly structuredOutput: (typeof STRUCTURED_OUTPUT_MODES)[number];
  readonly maxTokens: number;
  readonly dailyTokensPerKey: number;
  readonly concurrency: number;
  readonly queue: number;
  readonly circuitFailures: number;
  readonly circuitOpenSeconds: number;
  readonly timeoutMs: number;
  readonly maxRetries: number;
}

export type EventTypeName = (typeof EVENT_TYPES)[number];
export type SourceWeights = Readonly<Partial<Record<CandidateSource, number>>>;

export interface RecommenderConfig {
  /** Weight of each event type in a profile; a type left out counts for nothing. */
  readonly eventWeights: Readonly<Partial<Record<EventTypeName, number>>>;
  /** An event this many days older than the user's latest weighs half as much. */
  readonly profileHalfLifeDays: number;
  /** Interest vectors kept per user at most. */
  readonly profileInterests: number;
  /** Event types after which an item is not recommended to that user again. */
  readonly consumedEventTypes: readonly EventTypeName[];
  readonly sourceWeights: SourceWeights;
  /** Default MMR diversity, 0 (pure relevance) to 1. */
  readonly diversity: number;
  /** Items per series on a page (0: no cap). */
  readonly maxPerSeries: number;
  /** Items sharing a genre on a page (0: no cap). */
  readonly maxPerGenre: number;
  /** Positions of a page given to an exploration pick. */
  readonly explorationSlots: number;
  /** Positions in 10 kept for the closest new item (MARQUEE_NEW_ITEM_SLOTS). */
  readonly newItemSlots: number;
  /** A/B test variants by name; a user's variant is picked by a stable hash of their id. */
  readonly variants: Readonly<
    Record<
      string,
      {
        readonly share: number;
        readonly weights?: SourceWeights;
        readonly diversity?: number;
        readonly ranker?: RankerChoice;
      }
    >
  >;
  /** The ranker of pages whose variant does not pin one. */
  readonly ranker: RankerChoice;
  readonly collaborativeModel: (typeof COLLABORATIVE_MODELS)[number];
  readonly collaborativeNeighbours: number;
  /**
   * Longest time between trainings while events arrive, in minutes; 0 turns automatic training off (trains
   * only when asked).
   */
  readonly modelRefreshMinutes: number;
  /** When trainings start by themselves: see src/services/training-scheduler.ts. */
  readonly training: {
    /** Share of all events that, new since the last training, makes the next one. */
    readonly retrainShare: number;
    readonly debounceMs: number;
    readonly maxWaitMs: number;
  };
  readonly cacheSeconds: { readonly recommendations: number; readonly similar: number };
  /** The most each process's in-memory model (neighbour lists, item vectors) may take, in bytes; 0: none. */
  readonly modelMemoryBytes: number;
}

export class ConfigError extends Error {
  readonly problems: readonly { variable: string; message: string }[];

  constructor(problems: readonly { variable: string; message: string }[]) {
    super(
      `Invalid configuration:\n${problems.map((problem) => `  ${problem.variable}: ${problem.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * Turns an environment (normally `process.env`) into the one typed, frozen configuration object. Every bad
 * variable is named in the thrown ConfigError, so a misconfigured deployment stops at start-up.
 */
export function loadConfig(environment: Record<string, string | undefined>): Config {
  const parsed = environmentSchema.safeParse(environment);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? '(environment)'),
        message: `${issue.message} (got ${JSON.stringify(environment[String(issue.path[0])] ?? null)})`,
      })),
    );
  }
  const env = parsed.data;
  const embedder = env.MARQUEE_EMBEDDER;
  const problems: { variable: string; message: string }[] = [];
  if (embedder === 'local' && env.MARQUEE_EMBEDDING_DIMENSION < LOCAL_EMBEDDER_MIN_DIMENSION)
    problems.push({
      variable: 'MARQUEE_EMBEDDING_DIMENSION',
      message: `must be at least ${LOCAL_EMBEDDER_MIN_DIMENSION} for the local embedder (got ${env.MARQUEE_EMBEDDING_DIMENSION})`,
    });
  if (embedder === 'openai' && !env.OPENAI_API_KEY && !env.OPENAI_BASE_URL)
    problems.push({
      variable: 'OPENAI_API_KEY',
      message: 'MARQUEE_EMBEDDER=openai needs OPENAI_API_KEY, or OPENAI_BASE_URL for a server without keys',
    });
  if (env.MARQUEE_LLM === 'on' && !env.OPENAI_API_KEY && !env.OPENAI_BASE_URL)
    problems.push({
      variable: 'MARQUEE_LLM',
      message: 'MARQUEE_LLM=on needs OPENAI_API_KEY, or OPENAI_BASE_URL for a server without keys',
    });
  if (problems.length > 0) throw new ConfigError(problems);
  const llmEnabled =
    env.MARQUEE_LLM === 'on' ||
    (env.MARQUEE_LLM === 'auto' && (env.OPENAI_API_KEY !== undefined || env.OPENAI_BASE_URL !== undefined));
  const config: Config = {
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    adminKey: env.MARQUEE_ADMIN_KEY,
    database: {
      ...(env.DATABASE_URL
        ? { kind: 'postgres', url: env.DATABASE_URL, poolSize: env.MARQUEE_DATABASE_POOL_SIZE }
        : { kind: 'embedded', dataDir: env.MARQUEE_DATA_DIR === 'memory' ? 'memory' : env.MARQUEE_DATA_DIR }),
      hnswEfSearch: env.MARQUEE_HNSW_EF_SEARCH,
    },
    redis: env.REDIS_URL ? { url: env.REDIS_URL, keyPrefix: env.MARQUEE_REDIS_PREFIX } : undefined,
    openai: { apiKey: env.OPENAI_API_KEY, baseUrl: env.OPENAI_BASE_URL },
    embedding: {
      provider: embedder,
      model: env.MARQUEE_EMBEDDING_MODEL ?? DEFAULT_MODELS[embedder],
      dimension: env.MARQUEE_EMBEDDING_DIMENSION,
      fields: env.MARQUEE_EMBEDDING_FIELDS,
      batchSize: env.MARQUEE_EMBEDDING_BATCH_SIZE,
      batchTokens: env.MARQUEE_EMBEDDING_BATCH_TOKENS,
      concurrency: env.MARQUEE_EMBEDDING_CONCURRENCY,
      timeoutMs: env.MARQUEE_OPENAI_TIMEOUT_MS,
      maxRetries: env.MARQUEE_OPENAI_MAX_RETRIES,
    },
    llm: llmEnabled
      ? {
          apiKey: env.OPENAI_API_KEY,
          baseUrl: env.OPENAI_BASE_URL,
          explainModel: env.MARQUEE_EXPLAIN_MODEL,
          chatModel: env.MARQUEE_CHAT_MODEL,
          structuredOutput: env.MARQUEE_LLM_STRUCTURED_OUTPUT,
          maxTokens: env.MARQUEE_LLM_MAX_TOKENS,
          dailyTokensPerKey: env.MARQUEE_LLM_DAILY_TOKENS_PER_KEY,
          concurrency: env.MARQUEE_LLM_CONCURRENCY,
          queue: env.MARQUEE_LLM_QUEUE,
          circuitFailures: env.MARQUEE_LLM_CIRCUIT_FAILURES,
          circuitOpenSeconds: env.MARQUEE_LLM_CIRCUIT_OPEN_SECONDS,
          timeoutMs: env.MARQUEE_OPENAI_TIMEOUT_MS,
          maxRetries: env.MARQUEE_LLM_MAX_RETRIES,
        }
      : undefined,
    explanations: {
      budgetMs: env.MARQUEE_EXPLAIN_BUDGET_MS,
      streamBudgetMs: env.MARQUEE_EXPLAIN_STREAM_BUDGET_MS,
      cacheSeconds: env.MARQUEE_EXPLANATION_CACHE_SECONDS,
      includeUserAttributes: env.MARQUEE_EXPLAIN_USER_ATTRIBUTES,
    },
    importBatchSize: env.MARQUEE_IMPORT_BATCH_SIZE,
    importEventBatchSize: env.MARQUEE_IMPORT_EVENT_BATCH_SIZE,
    imports: {
      maxBytes: env.MARQUEE_IMPORT_MAX_BYTES,
      maxRecordBytes: env.MARQUEE_IMPORT_MAX_RECORD_BYTES,
      stallSeconds: env.MARQUEE_IMPORT_STALL_SECONDS,
    },
    jobs: {
      maxQueuedBatches: env.MARQUEE_IMPORT_MAX_QUEUED_BATCHES,
      workerConcurrency: env.MARQUEE_WORKER_CONCURRENCY,
      apiConcurrency: env.MARQUEE_API_JOB_CONCURRENCY,
      lockMs: env.MARQUEE_JOB_LOCK_MS,
    },
    recommender: {
      eventWeights: env.MARQUEE_EVENT_WEIGHTS,
      profileHalfLifeDays: env.MARQUEE_PROFILE_HALF_LIFE_DAYS,
      profileInterests: env.MARQUEE_PROFILE_INTERESTS,
      consumedEventTypes: env.MARQUEE_CONSUMED_EVENT_TYPES,
      sourceWeights: env.MARQUEE_SOURCE_WEIGHTS,
      diversity: env.MARQUEE_DIVERSITY,
      maxPerSeries: env.MARQUEE_MAX_PER_SERIES,
      maxPerGenre: env.MARQUEE_MAX_PER_GENRE,
      explorationSlots: env.MARQUEE_EXPLORATION_SLOTS,
      newItemSlots: env.MARQUEE_NEW_ITEM_SLOTS,
      variants: env.MARQUEE_VARIANTS,
      collaborativeModel: env.MARQUEE_COLLABORATIVE_MODEL,
      ranker: env.MARQUEE_RANKER,
      collaborativeNeighbours: env.MARQUEE_COLLABORATIVE_NEIGHBOURS,
      modelRefreshMinutes: env.MARQUEE_MODEL_REFRESH_MINUTES,
      training: {
        retrainShare: env.MARQUEE_MODEL_RETRAIN_SHARE,
        debounceMs: Math.round(env.MARQUEE_MODEL_TRAIN_DEBOUNCE_SECONDS * 1000),
        maxWaitMs: Math.round(env.MARQUEE_MODEL_TRAIN_MAX_WAIT_SECONDS * 1000),
      },
      modelMemoryBytes: env.MARQUEE_MODEL_MEMORY_MB * 1_048_576,
      cacheSeconds: {
        recommendations: env.MARQUEE_RECOMMENDATION_CACHE_SECONDS,
        similar: env.MARQUEE_SIMILAR_CACHE_SECONDS,
      },
    },
    corsOrigins: env.MARQUEE_CORS_ORIGINS,
    trustProxy: env.MARQUEE_TRUST_PROXY,
    requestTimeoutMs: env.MARQUEE_REQUEST_TIMEOUT_MS,
    maxDatabaseQueue: env.MARQUEE_MAX_DATABASE_QUEUE,
    eventRetentionDays: env.MARQUEE_EVENT_RETENTION_DAYS,
    chat: { sessionTtlHours: env.MARQUEE_CHAT_SESSION_TTL_HOURS, budgetMs: env.MARQUEE_CHAT_BUDGET_MS },
    rateLimits: {
      authFailures: env.MARQUEE_AUTH_FAILURES_PER_MINUTE,
      admin: env.MARQUEE_RATE_LIMIT_ADMIN,
      ingest: env.MARQUEE_RATE_LIMIT_INGEST,
      client: env.MARQUEE_RATE_LIMIT_CLIENT,
      read: env.MARQUEE_RATE_LIMIT_READ,
      user: env.MARQUEE_RATE_LIMIT_USER,
      anonymous: env.MARQUEE_RATE_LIMIT_ANONYMOUS,
    },
  };
  return deepFreeze(config);
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child && typeof child === 'object') deepFreeze(child);
  }
  return Object.freeze(value);
}
