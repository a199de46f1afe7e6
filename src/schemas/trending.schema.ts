import { z } from 'zod';
import { limitSchema } from './common.schema.ts';
import {
  itemFiltersQueryShape,
  RECOMMENDATION_MAX_LIMIT,
  recommendedItemSchema,
} from './recommendations.schema.ts';

export const TRENDING_WINDOWS = ['day', 'week', 'month'] as const;
export type TrendingWindow = (typeof TRENDING_WINDOWS)[number];

export const trendingQuerySchema = z
  .strictObject({
    ...itemFiltersQueryShape,
    window: z
      .enum(TRENDING_WINDOWS, { message: `must be one of ${TRENDING_WINDOWS.join(', ')}` })
      .default('week')
      .describe(
        'How recent the activity that counts is: interactions fade with a half-life of about a day, a week or a month.',
      ),
    limit: limitSchema(20, RECOMMENDATION_MAX_LIMIT),
  })
  .superRefine((query, context) => {
    if (query.yearFrom !== undefined && query.yearTo !== undefined && query.yearFrom > query.yearTo)
      context.addIssue({ code: 'custom', path: ['yearTo'], message: 'must not be before yearFrom' });
  });
export type TrendingQuery = z.output<typeof trendingQuerySchema>;

export const trendingPageSchema = z
  .object({
    window: z.enum(TRENDING_WINDOWS),
    items: z.array(recommendedItemSchema).describe('Most trending first.'),
  })
  .meta({
    id: 'TrendingPage',
    examples: [
      {
        window: 'week',
        items: [
          {
            itemId: 'movie-42',
            score: 31.7,
            item: {
              id: 'movie-42',
              type: 'movie',
              title: 'The Martian',
              genres: ['science fiction', 'drama'],
              tags: ['space'],
              credits: [],
              regions: [],
              attributes: {},
              createdAt: '2026-11-01T12:00:00.000Z',
              updatedAt: '2026-11-01T12:00:00.000Z',
            },
            reasons: [{ source: 'trending', detail: 'Trending this week: 42 viewers', evidenceItemIds: [] }],
          },
        ],
      },
    ],
  });
export type TrendingPage = z.infer<typeof trendingPageSchema>;
