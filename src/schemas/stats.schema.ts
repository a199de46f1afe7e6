import { z } from 'zod';
import { timestampSchema } from './common.schema.ts';

/** The default span when `from` is left out. */
export const STATS_DEFAULT_DAYS = 7;

export const recommendationStatsQuerySchema = z
  .strictObject({
    from: timestampSchema
      .optional()
      .describe(
        `Impressions served at or after this instant (default: ${STATS_DEFAULT_DAYS} days before \`to\`).`,
      ),
    to: timestampSchema.optional().describe('Impressions served before this instant (default: now).'),
    variant: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,32}$/, { message: 'must be a variant name: 1 to 32 of A-Za-z0-9._-' })
      .optional()
      .describe('Only pages of this A/B test variant.'),
  })
  .superRefine((query, context) => {
    if (query.from && query.to && Date.parse(query.from) >= Date.parse(query.to))
      context.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' });
  });
export type RecommendationStatsQuery = z.output<typeof recommendationStatsQuerySchema>;

const metricsShape = {
  impressions: z.number().int().describe('Items shown on served pages.'),
  clicks: z
    .number()
    .int()
    .describe("Impressions followed by a `click` or `play` event carrying the page's recommendationId."),
  completions: z.number().int().describe('Impressions followed by a `complete` event.'),
  clickThroughRate: z.number().describe('clicks / impressions (0 when nothing was shown).'),
  completionRate: z
    .number()
    .describe('completions / impressions: shown items watched to the end (0 when nothing was shown).'),
  meanClickedPosition: z
    .number()
    .nullable()
    .describe('Mean `position` of the clicked impressions on their page, as recorded; null without clicks.'),
  feedback: z
    .object({
      up: z.number().int(),
      down: z.number().int(),
      notInterested: z.number().int(),
      explanationUp: z.number().int(),
      explanationDown: z.number().int(),
    })
    .describe(
      'Impressions that got a thumbs up or down, a not interested, or a thumbs up or down on their ' +
        "explanation (POST /v1/feedback with the page's recommendationId).",
    ),
};
export type RecommendationMetrics = { [K in keyof typeof metricsShape]: z.infer<(typeof metricsShape)[K]> };

const metricsSchema = z.object(metricsShape).meta({ id: 'RecommendationMetrics' });
const sourceMetricsSchema = z
  .object({
    source: z.string().describe('A candidate source named in the reasons of the shown items.'),
    ...metricsShape,
  })
  .meta({
    id: 'SourceMetrics',
    description: 'An item proposed by several sources counts once for each of them.',
  });

export const recommendationStatsSchema = z
  .object({
    from: z.string().describe('Start of the span (inclusive).'),
    to: z.string().describe('End of the span (exclusive).'),
    variant: z.string().nullable().describe('The variant asked for, or null for all.'),
    totals: metricsSchema,
    sources: z.array(sourceMetricsSchema).describe('Per candidate source, most impressions first.'),
    variants: z
      .array(
        z.object({
          variant: z.string(),
          ...metricsShape,
          sources: z.array(sourceMetricsSchema),
        }),
      )
      .describe('Per A/B test variant, by name, each with its own breakdown per source.'),
  })
  .meta({
    id: 'RecommendationStats',
    examples: [
      {
        from: '2026-11-13T00:00:00.000Z',
        to: '2026-11-20T00:00:00.000Z',
        variant: null,
        totals: {
          impressions: 200,
          clicks: 12,
          completions: 5,
          clickThroughRate: 0.06,
          completionRate: 0.025,
          meanClickedPosition: 2.5,
          feedback: { up: 3, down: 1, notInterested: 2, explanationUp: 1, explanationDown: 0 },
        },
        sources: [
          {
            source: 'collaborative',
            impressions: 150,
            clicks: 10,
            completions: 4,
            clickThroughRate: 0.0667,
            completionRate: 0.0267,
            meanClickedPosition: 2.1,
            feedback: { up: 3, down: 0, notInterested: 1, explanationUp: 1, explanationDown: 0 },
          },
        ],
        variants: [],
      },
    ],
  });
export type RecommendationStats = z.infer<typeof recommendationStatsSchema>;
