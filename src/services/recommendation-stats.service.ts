import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import {
  countImpressionOutcomes,
  type ImpressionCounts,
} from '../repositories/recommendation-stats.repository.ts';
import {
  type RecommendationMetrics,
  type RecommendationStats,
  STATS_DEFAULT_DAYS,
} from '../schemas/stats.schema.ts';

const MS_PER_DAY = 86_400_000;

/** How served recommendations did: impressions, clicks and completions, overall, per source and per variant. */
export async function recommendationStats(
  db: Kysely<Database>,
  request: { from?: string | undefined; to?: string | undefined; variant?: string | undefined },
  now: Date = new Date(),
): Promise<RecommendationStats> {
  const to = request.to ? new Date(request.to) : now;
  const from = request.from
    ? new Date(request.from)
    : new Date(to.getTime() - STATS_DEFAULT_DAYS * MS_PER_DAY);
  const groups = await countImpressionOutcomes(db, { from, to, variant: request.variant });

  const bySource = (rows: ImpressionCounts[]) =>
    rows
      .map((row) => ({ source: row.source ?? '', ...metrics(row) }))
      .sort((a, b) => b.impressions - a.impressions || a.source.localeCompare(b.source));
  const total = groups.find((row) => row.variant === null && row.source === null);
  const variants = groups
    .filter((row) => row.variant !== null && row.source === null)
    .sort((a, b) => (a.variant ?? '').localeCompare(b.variant ?? ''))
    .map((row) => ({
      variant: row.variant ?? '',
      ...metrics(row),
      sources: bySource(groups.filter((entry) => entry.variant === row.variant && entry.source !== null)),
    }));
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    variant: request.variant ?? null,
    totals: metrics(total),
    sources: bySource(groups.filter((row) => row.variant === null && row.source !== null)),
    variants,
  };
}

function metrics(counts: ImpressionCounts | undefined): RecommendationMetrics {
  const impressions = counts?.impressions ?? 0;
  const clicks = counts?.clicks ?? 0;
  const completions = counts?.completions ?? 0;
  return {
    impressions,
    clicks,
    completions,
    clickThroughRate: impressions > 0 ? clicks / impressions : 0,
    completionRate: impressions > 0 ? completions / impressions : 0,
    meanClickedPosition: counts?.meanClickedPosition ?? null,
    feedback: {
      up: counts?.itemUp ?? 0,
      down: counts?.itemDown ?? 0,
      notInterested: counts?.notInterested ?? 0,
      explanationUp: counts?.explanationUp ?? 0,
      explanationDown: counts?.explanationDown ?? 0,
    },
  };
}
