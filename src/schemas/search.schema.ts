import { z } from 'zod';
import { idSchema, nonBlankTextSchema } from './common.schema.ts';
import {
  explainBodyShape,
  explanationStreamSchema,
  itemFiltersSchema,
  RECOMMENDATION_MAX_LIMIT,
  recommendedItemSchema,
} from './recommendations.schema.ts';

export const SEARCH_QUERY_MAX_LENGTH = 500;
export const SEARCH_DEFAULT_LIMIT = 20;

export const searchRequestSchema = z
  .strictObject({
    query: nonBlankTextSchema(SEARCH_QUERY_MAX_LENGTH).describe(
      'What the user typed, 1 to 500 characters. Web-search syntax works: "exact phrase", `or`, `-word`.',
    ),
    filters: itemFiltersSchema.optional(),
    limit: z
      .number({ message: 'must be a number' })
      .int({ message: 'must be a whole number' })
      .min(1, { message: 'must be at least 1' })
      .max(RECOMMENDATION_MAX_LIMIT, { message: `must be at most ${RECOMMENDATION_MAX_LIMIT}` })
      .default(SEARCH_DEFAULT_LIMIT)
      .describe(`How many results, 1 to ${RECOMMENDATION_MAX_LIMIT} (default ${SEARCH_DEFAULT_LIMIT}).`),
    userId: idSchema
      .optional()
      .describe(
        "Personalise the order for this user's taste. Needs an API key with scope `client` or `admin`, or a " +
          'user token of this user.',
      ),
    ...explainBodyShape,
  })
  .meta({
    id: 'SearchRequest',
    examples: [
      { query: 'stranger things', limit: 10 },
      {
        query: 'space survival',
        filters: { types: ['movie'], excludeGenres: ['Horror Movies'], maxMaturityRating: 'PG-13' },
        userId: 'user-7',
      },
    ],
  });
export type SearchRequestBody = z.output<typeof searchRequestSchema>;

export const searchResultsSchema = z
  .object({
    searchId: z.string().describe('Identifies this answer in logs. Search pages are not recorded.'),
    items: z.array(recommendedItemSchema).describe('Best match first.'),
    nextCursor: z.null().describe('Always null: a search answers one page, its best `limit` matches.'),
    explanationStream: explanationStreamSchema.optional(),
  })
  .meta({
    id: 'SearchResults',
    examples: [
      {
        searchId: '5b0f7c9e-3f7a-4a57-9a55-2d1f3e1d0c11',
        items: [
          {
            itemId: 's8',
            score: 0.0489,
            item: {
              id: 's8',
              type: 'series',
              title: 'Stranger Things',
              genres: ['TV Horror', 'TV Mysteries'],
              tags: [],
              credits: [],
              regions: ['United States'],
              attributes: {},
              createdAt: '2026-11-01T12:00:00.000Z',
              updatedAt: '2026-11-01T12:00:00.000Z',
            },
            reasons: [
              { source: 'search', detail: 'Matches "stranger things" in the title', evidenceItemIds: [] },
              { source: 'search', detail: 'Close in meaning to "stranger things"', evidenceItemIds: [] },
            ],
          },
        ],
        nextCursor: null,
      },
    ],
  });
