import { z } from 'zod';
import { CANDIDATE_SOURCES } from '../config.ts';
import { EXPLANATION_LOCALES } from '../explain/locale.ts';
import { EXPLANATION_MAX_LENGTH } from '../explain/template-explainer.ts';
import type { AttributeCondition, ItemFilters } from '../recommender/item-filters.ts';
import { MATURITY_AGES, maturityAge } from '../recommender/item-filters.ts';
import { SEARCH_MATCHES } from '../recommender/blend.ts';
import { RANKING_FEATURES, type RankingFeature } from '../recommender/ranking/ranking-features.ts';
import { cursorSchema, idSchema, nextCursorSchema, nonBlankTextSchema, textSchema } from './common.schema.ts';
import { itemSchema, itemTypeSchema } from './items.schema.ts';

export const RECOMMENDATION_MAX_LIMIT = 100;
/** Reasons a recommended item can carry: the candidate sources, plus the exploration pick. */
export const REASON_SOURCES = [...CANDIDATE_SOURCES, 'search', 'exploration'] as const;
export type ReasonSource = (typeof REASON_SOURCES)[number];

const label = nonBlankTextSchema(64);
const maturitySchema = textSchema()
  .trim()
  .refine((value) => maturityAge(value) !== undefined, {
    message: `must be a known rating (${Object.keys(MATURITY_AGES).join(', ')}) or an age such as 16`,
  });
const yearSchema = z.number().int().min(1800).max(2200);
// Seconds, like the item's `durationSeconds` (a song or a news clip needs finer than minutes); up to a year.
const durationSchema = z
  .number({ message: 'must be a number of seconds' })
  .int({ message: 'must be a whole number of seconds' })
  .min(0, { message: 'must be at least 0' })
  .max(31_536_000, { message: 'must be at most 31536000 (a year)' });
const DURATION_NOTE = 'items of unknown duration are then left out';

const attributeConditionSchema: z.ZodType<AttributeCondition> = z.union([
  textSchema().max(256),
  z.number(),
  z.boolean(),
  z.strictObject({
    in: z
      .array(z.union([textSchema().max(256), z.number(), z.boolean()]))
      .min(1)
      .max(100),
  }),
  z
    .strictObject({ gte: z.number(), gt: z.number(), lte: z.number(), lt: z.number() })
    .partial()
    .refine((range) => Object.keys(range).length > 0, { message: 'give at least one of gte, gt, lte, lt' }),
]);
const attributesFilterSchema = z
  .record(textSchema().min(1).max(128), attributeConditionSchema)
  .refine((value) => Object.keys(value).length <= 20, { message: 'at most 20 attribute conditions' })
  .describe(
    'Conditions on `attributes` keys: a value to equal, `{"in": [...]}`, or a range `{"gte": 1, "lt": 5}`.',
  );

/** Filters as a JSON object (request bodies). */
export const itemFiltersSchema = z
  .strictObject({
    types: z.array(itemTypeSchema).max(20).optional().describe('Only items of these types.'),
    genres: z.array(label).max(50).optional().describe('Items with at least one of these genres.'),
    genresAll: z.array(label).max(50).optional().describe('Items with all of these genres.'),
    excludeGenres: z.array(label).max(50).optional().describe('Items with none of these genres.'),
    tags: z.array(label).max(50).optional().describe('Items with at least one of these tags.'),
    excludeTags: z.array(label).max(50).optional().describe('Items with none of these tags.'),
    languages: z.array(label).max(20).optional().describe('Original language, any of.'),
    region: label.optional().describe("The viewer's region: items limited to other regions are left out."),
    maxMaturityRating: maturitySchema
      .optional()
      .describe('Highest maturity rating shown (PG-13, TV-14, 16...); unrated items are then left out.'),
    yearFrom: yearSchema.optional().describe('Released in this year or later.'),
    yearTo: yearSchema.optional().describe('Released in this year or earlier.'),
    minDurationSeconds: durationSchema
      .optional()
      .describe(`Running time of at least this many seconds; ${DURATION_NOTE}.`),
    maxDurationSeconds: durationSchema
      .optional()
      .describe(`Running time of at most this many seconds; ${DURATION_NOTE}.`),
    availableNow: z
      .boolean()
      .optional()
      .describe('Only items inside their availability window (default true).'),
    attributes: attributesFilterSchema.optional(),
  })
  .superRefine(checkRanges)
  .meta({
    id: 'ItemFilters',
    description: 'Business rules every item of the answer obeys. All conditions must hold.',
    examples: [
      { types: ['movie'], excludeGenres: ['Horror Movies'], maxMaturityRating: 'PG-13', yearFrom: 2000 },
      { types: ['movie'], maxDurationSeconds: 6000 },
    ],
  });
export type ItemFiltersInput = z.output<typeof itemFiltersSchema>;

const commaList = (element: z.ZodType<string, string>, max: number) =>
  textSchema()
    .max(4096)
    .transform((value) =>
      value
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean),
    )
    .pipe(z.array(element).max(max, { message: `at most ${max} values` }));

const queryBoolean = z.enum(['true', 'false']).transform((value) => value === 'true');
const queryYear = z.coerce.number({ message: 'must be a year' }).pipe(yearSchema);
const queryDuration = z.coerce.number({ message: 'must be a number of seconds' }).pipe(durationSchema);

/** Filters as query parameters (GET): lists are comma-separated, `attributes` is JSON. */
export const itemFiltersQueryShape = {
  types: commaList(itemTypeSchema, 20).optional().describe('Only items of these types (comma-separated).'),
  type: commaList(itemTypeSchema, 20)
    .optional()
    .describe('The same as `types` (the items list spells it so).'),
  genres: commaList(label, 50).optional().describe('At least one of these genres (comma-separated).'),
  genre: label
    .optional()
    .describe(
      'Only items with this genre (exact match), as on the items list; combines with the others as "and".',
    ),
  genresAll: commaList(label, 50).optional().describe('All of these genres (comma-separated).'),
  excludeGenres: commaList(label, 50).optional().describe('None of these genres (comma-separated).'),
  tags: commaList(label, 50).optional().describe('At least one of these tags (comma-separated).'),
  excludeTags: commaList(label, 50).optional().describe('None of these tags (comma-separated).'),
  languages: commaList(label, 20).optional().describe('Original language, any of (comma-separated).'),
  language: commaList(label, 20).optional().describe('The same as `languages`.'),
  region: label.optional().describe("The viewer's region: items limited to other regions are left out."),
  maxMaturityRating: maturitySchema
    .optional()
    .describe('Highest maturity rating shown (PG-13, TV-14, 16...).'),
  yearFrom: queryYear.optional().describe('Released in this year or later.'),
  yearTo: queryYear.optional().describe('Released in this year or earlier.'),
  minDurationSeconds: queryDuration
    .optional()
    .describe(`Running time of at least this many seconds; ${DURATION_NOTE}.`),
  maxDurationSeconds: queryDuration
    .optional()
    .describe(`Running time of at most this many seconds; ${DURATION_NOTE}.`),
  availableNow: queryBoolean.optional().describe('Only items available now (default true).'),
  attributes: textSchema()
    .max(4096)
    .transform((value, context) => {
      try {
        return JSON.parse(value) as unknown;
      } catch {
        context.addIssue({ code: 'custom', message: 'must be a JSON object' });
        return z.NEVER;
      }
    })
    .pipe(attributesFilterSchema)
    .optional()
    .describe('JSON object of attribute conditions, e.g. {"studio":"A24","score":{"gte":7}}.'),
};

type FiltersQuery = {
  [K in keyof typeof itemFiltersQueryShape]?: z.output<(typeof itemFiltersQueryShape)[K]>;
};

/** Query filters as ItemFilters; an alias and its name together add up (`type=a&types=b` is a or b). */
export function filtersFromQuery(query: FiltersQuery): ItemFilters {
  const either = <T>(name: T[] | undefined, alias: T[] | undefined) =>
    name === undefined && alias === undefined ? undefined : [...(name ?? []), ...(alias ?? [])];
  return {
    types: either(query.types, query.type),
    genresAny: query.genres,
    genresAll: either(query.genresAll, query.genre === undefined ? undefined : [query.genre]),
    genresNone: query.excludeGenres,
    tagsAny: query.tags,
    tagsNone: query.excludeTags,
    languages: either(query.languages, query.language),
    region: query.region,
    maxMaturityRating: query.maxMaturityRating,
    yearFrom: query.yearFrom,
    yearTo: query.yearTo,
    minDurationSeconds: query.minDurationSeconds,
    maxDurationSeconds: query.maxDurationSeconds,
    availableNow: query.availableNow,
    attributes: query.attributes,
  };
}

export function filtersFromBody(filters: ItemFiltersInput | undefined): ItemFilters {
  if (!filters) return {};
  return {
    types: filters.types,
    genresAny: filters.genres,
    genresAll: filters.genresAll,
    genresNone: filters.excludeGenres,
    tagsAny: filters.tags,
    tagsNone: filters.excludeTags,
    languages: filters.languages,
    region: filters.region,
    maxMaturityRating: filters.maxMaturityRating,
    yearFrom: filters.yearFrom,
    yearTo: filters.yearTo,
    minDurationSeconds: filters.minDurationSeconds,
    maxDurationSeconds: filters.maxDurationSeconds,
    availableNow: filters.availableNow,
    attributes: filters.attributes,
  };
}

function checkRanges(
  value: {
    yearFrom?: number | undefined;
    yearTo?: number | undefined;
    minDurationSeconds?: number | undefined;
    maxDurationSeconds?: number | undefined;
  },
  context: z.RefinementCtx,
) {
  if (value.yearFrom !== undefined && value.yearTo !== undefined && value.yearFrom > value.yearTo)
    context.addIssue({ code: 'custom', path: ['yearTo'], message: 'must not be before yearFrom' });
  const { minDurationSeconds: min, maxDurationSeconds: max } = value;
  if (min !== undefined && max !== undefined && min > max)
    context.addIssue({
      code: 'custom',
      path: ['maxDurationSeconds'],
      message: 'must not be below minDurationSeconds',
    });
}

export const reasonSchema = z
  .object({
    source: z.enum(REASON_SOURCES).describe('The candidate source (strategy) that proposed the item.'),
    detail: z.string().describe('What the source saw, in words.'),
    evidenceItemIds: z.array(z.string()).describe('The items that led to it (your history, the session...).'),
    viewers: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('`trending`, `popular`: the distinct viewers behind the statistic.'),
    window: z
      .enum(['week', 'all-time'])
      .optional()
      .describe('`trending`: over the past week (decayed); `popular`: of all time.'),
    coViewed: z
      .boolean()
      .optional()
      .describe(
        '`session`: people watch it right after the evidence (true), or it is close in content (false).',
      ),
    mentioned: z
      .boolean()
      .optional()
      .describe('`session` (chat): the evidence are titles the user named in the conversation, not viewed.'),
    query: z.string().optional().describe('`search`: the query it matched.'),
    match: z
      .enum(SEARCH_MATCHES)
      .optional()
      .describe('`search`: where it matched: a field, `any` field, or the `meaning` of the query.'),
    releaseYear: z.number().int().optional().describe('`fresh`: the release year.'),
  })
  .meta({ id: 'RecommendationReason' });

export const rankingSignalSchema = z
  .object({
    feature: z
      .enum(RANKING_FEATURES as [RankingFeature, ...RankingFeature[]])
      .describe(
        'A feature of the learned ranker: `<source>.<measure>` for the collaborative sources (item-knn, ' +
          'rp3beta, ease), or one of the item (popularity, trending, item.rating, ages), of how it ' +
          'relates to the user (genre.affinity-*, content.*) or of the user.',
      ),
    value: z.number().nullable().describe("The feature's value for this item; null when unknown."),
    lift: z
      .number()
      .describe("How far it lifted the item's score above the mean of the candidates (ranker units)."),
  })
  .meta({ id: 'RankingSignal' });

export const explanationSchema = z
  .object({
    text: z
      .string()
      .describe(
        `Why this item, in one sentence of at most ${EXPLANATION_MAX_LENGTH} characters, in the language asked for.`,
      ),
    source: z
      .enum(['llm', 'template'])
      .describe('Who wrote it: `template` (written from the reasons, offline) or `llm` (a language model).'),
    evidenceItemIds: z
      .array(z.string())
      .describe("The items the sentence names, all taken from the reasons' evidence."),
  })
  .meta({
    id: 'Explanation',
    description: 'A sentence for the viewer on why the item is there; only with `explain=true`.',
    examples: [
      {
        text: 'People who watched "The Martian" also loved this, and it is trending this week with 1,204 viewers',
        source: 'template',
        evidenceItemIds: ['movie-42'],
      },
    ],
  });

export type Explanation = z.infer<typeof explanationSchema>;

export const explanationStreamSchema = z
  .object({
    url: z
      .string()
      .describe(
        'GET it (EventSource works: no credentials needed, the URL is the secret) for `explanation` events, ' +
          'one per item as it is written, then `done`.',
      ),
    expiresAt: z.string().describe('After this the URL answers 404.'),
  })
  .meta({
    id: 'ExplanationStream',
    description: 'Where the explanations of an `explain=async` answer are streamed.',
    examples: [{ url: '/v1/explanations/6tV0Y7cJm5cQ2yQ8dXo3zA', expiresAt: '2026-11-23T12:10:00.000Z' }],
  });
export type ExplanationStream = z.infer<typeof explanationStreamSchema>;

export const recommendedItemSchema = z
  .object({
    itemId: z.string(),
    score: z
      .number()
      .describe(
        'Relevance from 0 to 1, relative to the strongest item of the answer (1), on every recommending ' +
          'endpoint. Comparable within one answer only; the order of the items is the ranking.',
      ),
    item: itemSchema,
    reasons: z.array(reasonSchema).describe('Where the item came from, strongest first.'),
    signals: z
      .array(rankingSignalSchema)
      .optional()
      .describe(
        'Pages ordered by the learned ranker: the features that lifted this item above the other ' +
          'candidates, strongest first (absent when nothing set it apart, or the blend ordered the page).',
      ),
    explanation: explanationSchema.optional(),
  })
  .meta({
    id: 'RecommendedItem',
    description: 'One item of an answer, shared by every recommending endpoint.',
  });
export type RecommendedItem = z.infer<typeof recommendedItemSchema>;

export const recommendationPageSchema = z
  .object({
    recommendationId: z
      .string()
      .describe('Send it back as `recommendationId` on the events this page leads to (attribution).'),
    variant: z.string().describe('The A/B test variant that produced the page.'),
    items: z.array(recommendedItemSchema),
    nextCursor: nextCursorSchema,
    explanationStream: explanationStreamSchema.optional(),
  })
  .meta({
    id: 'RecommendationPage',
    description: 'A page of recommended items, strongest first, with where each came from.',
    examples: [
      {
        recommendationId: '5b0c2a7e-9f1d-4c3b-8a6e-2d4f0b1c9e77',
        variant: 'default',
        items: [
          {
            itemId: 'interstellar',
            score: 0.92,
            item: {
              id: 'interstellar',
              type: 'movie',
              title: 'Interstellar',
              genres: ['science fiction', 'drama'],
              tags: ['space'],
              credits: [{ name: 'Christopher Nolan', role: 'director' }],
              regions: [],
              attributes: {},
              createdAt: '2026-11-01T12:00:00.000Z',
              updatedAt: '2026-11-01T12:00:00.000Z',
            },
            reasons: [
              {
                source: 'collaborative',
                detail: 'People who watched "The Martian" also watched this',
                evidenceItemIds: ['the-martian'],
              },
            ],
          },
        ],
        nextCursor: 'eyJ2IjoxLCJvIjoyMH0',
      },
    ],
  });
export type RecommendationPage = z.infer<typeof recommendationPageSchema>;

const EXPLAIN_DESCRIPTION =
  '`true` adds an `explanation` sentence to each item: written by the language model when one is configured ' +
  '(one call per page, within the explanation budget, checked against the reasons), otherwise, and for any ' +
  'item the model misses, from a template. `async` answers at once without explanations and gives ' +
  '`explanationStream.url`, which streams them (server-sent events) as they are written.';
/** `explain` as a query parameter: 'true' | 'false' (default) | 'async'. */
const explainQuerySchema = z
  .enum(['true', 'false', 'async'])
  .default('false')
  .transform((value): boolean | 'async' => (value === 'async' ? 'async' : value === 'true'))
  .describe(EXPLAIN_DESCRIPTION);
/** `explain` in a JSON body: a boolean or 'async'. */
const explainBodySchema = z
  .union([z.boolean(), z.literal('async')])
  .default(false)
  .describe(EXPLAIN_DESCRIPTION);
const localeSchema = textSchema()
  .max(35)
  .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/, {
    message: 'must be a BCP 47 language tag such as fr or fr-FR',
  })
  .describe(
    `Language of the explanations (${EXPLANATION_LOCALES.join(', ')}; others get English). Without it, the ` +
      'Accept-Language header chooses. The answer says which in Content-Language.',
  )
  .meta({ examples: ['fr-FR'] });

/** `explain` and `locale` for GET query strings. */
export const explainQueryShape = { explain: explainQuerySchema, locale: localeSchema.optional() };
/** `explain` and `locale` for JSON bodies. */
export const explainBodyShape = { explain: explainBodySchema, locale: localeSchema.optional() };

const diversitySchema = z.coerce
  .number({ message: 'must be a number from 0 to 1' })
  .min(0)
  .max(1)
  .describe('0 ranks by relevance only; towards 1 trades relevance for variety (MMR). Default from config.');
const variantNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,32}$/, { message: 'must be a configured variant name' })
  .describe('Force an A/B variant (testing); by default a stable hash of the userId picks it.');

export const recommendationQuerySchema = z.strictObject({
  limit: z.coerce
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(1, { message: 'must be at least 1' })
    .max(RECOMMENDATION_MAX_LIMIT, { message: `must be at most ${RECOMMENDATION_MAX_LIMIT}` })
    .default(20)
    .describe(`Items per page, 1 to ${RECOMMENDATION_MAX_LIMIT} (default 20).`),
  cursor: cursorSchema.optional(),
  diversity: diversitySchema.optional(),
  variant: variantNameSchema.optional(),
  exclude: commaList(idSchema, 500).optional().describe('Item ids never to return (comma-separated).'),
  ...explainQueryShape,
  ...itemFiltersQueryShape,
});
export type RecommendationQuery = z.output<typeof recommendationQuerySchema>;

export const sessionRecommendationBodySchema = z
  .strictObject({
    recentItemIds: z
      .array(idSchema)
      .max(100, { message: 'at most 100 items' })
      .default([])
      .describe('What the visitor viewed recently, most recent first.'),
    userId: idSchema.optional().describe("Blend in this user's profile when the visitor is known."),
    filters: itemFiltersSchema.optional(),
    limit: z.number().int().min(1).max(RECOMMENDATION_MAX_LIMIT).default(20),
    cursor: cursorSchema.optional(),
    diversity: z.number().min(0).max(1).optional(),
    exclude: z.array(idSchema).max(500).optional().describe('Item ids never to return.'),
    ...explainBodyShape,
  })
  .meta({
    id: 'SessionRecommendationRequest',
    examples: [
      { recentItemIds: ['movie-42', 'movie-7'], filters: { types: ['movie'] }, limit: 10 },
      { recentItemIds: ['movie-42'], limit: 10, explain: true, locale: 'fr' },
    ],
  });
export type SessionRecommendationBody = z.output<typeof sessionRecommendationBodySchema>;

export const similarItemsQuerySchema = z.strictObject({
  limit: recommendationQuerySchema.shape.limit,
  diversity: diversitySchema.optional(),
  ...explainQueryShape,
  ...itemFiltersQueryShape,
});
export type SimilarItemsQuery = z.output<typeof similarItemsQuerySchema>;
