import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.ts';

/** Raw counts of one group of impressions: all of them, one variant, one source, or both. */
export interface ImpressionCounts {
  variant: string | null;
  source: string | null;
  impressions: number;
  clicks: number;
  completions: number;
  meanClickedPosition: number | null;
  /** Impressions that got each kind of feedback (POST /v1/feedback with the page's recommendationId). */
  itemUp: number;
  itemDown: number;
  notInterested: number;
  explanationUp: number;
  explanationDown: number;
}

const FEEDBACK_COLUMNS = [
  ['itemUp', 'item', 'up'],
  ['itemDown', 'item', 'down'],
  ['notInterested', 'item', 'not_interested'],
  ['explanationUp', 'explanation', 'up'],
  ['explanationDown', 'explanation', 'down'],
] as const;

// Event types that mean the user acted on a shown item, and that they saw it to the end.
const CLICK_TYPES = ['click', 'play'];
const COMPLETE_TYPES = ['complete'];

/**
 * Impressions served in [from, to) and how many were followed by a click (or play) and by a completion:
 * an event counts for the impression of its item on the page named by its recommendationId. Each impression
 * counts once however many events followed it. Groups: all, per variant, per source, per variant and source
 * (an impression counts for each of its sources). Rolled-up dimensions are null.
 */
export async function countImpressionOutcomes(
  db: Kysely<Database>,
  span: { from: Date; to: Date; variant?: string | undefined },
): Promise<ImpressionCounts[]> {
  const outcome = (types: string[]) => sql<boolean>`EXISTS (
    SELECT 1 FROM events
    WHERE events.recommendation_id = impressions.recommendation_id
      AND events.item_id = impressions.item_id
      AND events.type = ANY(${types}::text[]))`;
  const shown = db
    .selectFrom('recommendation_impressions as impressions')
    .select([
      'impressions.variant',
      'impressions.position',
      'impressions.sources',
      outcome(CLICK_TYPES).as('clicked'),
      outcome(COMPLETE_TYPES).as('completed'),
      ...FEEDBACK_COLUMNS.map(([column, target, value]) =>
        sql<boolean>`EXISTS (
          SELECT 1 FROM recommendation_feedback AS feedback
          WHERE feedback.recommendation_id = impressions.recommendation_id
            AND feedback.item_id = impressions.item_id
            AND feedback.target = ${target}
            AND feedback.value = ${value})`.as(column),
      ),
    ])
    .where('impressions.created_at', '>=', span.from)
    .where('impressions.created_at', '<', span.to)
    .$if(span.variant !== undefined, (query) => query.where('impressions.variant', '=', span.variant!));
  const counts = sql`
    count(*)::int AS impressions,
    (count(*) FILTER (WHERE clicked))::int AS clicks,
    (count(*) FILTER (WHERE completed))::int AS completions,
    (avg(position) FILTER (WHERE clicked))::float8 AS "meanClickedPosition",
    ${sql.join(
      FEEDBACK_COLUMNS.map(
        ([column]) => sql`(count(*) FILTER (WHERE ${sql.ref(column)}))::int AS ${sql.ref(column)}`,
      ),
    )}`;
  // GROUPING() tells a rolled-up null from a value; variant and source are never null in the table.
  const { rows } = await sql<ImpressionCounts>`
    WITH shown AS MATERIALIZED (${shown})
    SELECT CASE WHEN grouping(variant) = 0 THEN variant END AS variant, NULL::text AS source, ${counts}
      FROM shown GROUP BY GROUPING SETS ((), (variant))
    UNION ALL
    SELECT CASE WHEN grouping(variant) = 0 THEN variant END AS variant, source, ${counts}
      FROM shown CROSS JOIN LATERAL unnest(shown.sources) AS source
      GROUP BY GROUPING SETS ((source), (variant, source))`.execute(db);
  return rows.map((row) => ({
    ...row,
    impressions: Number(row.impressions),
    clicks: Number(row.clicks),
    completions: Number(row.completions),
    itemUp: Number(row.itemUp),
    itemDown: Number(row.itemDown),
    notInterested: Number(row.notInterested),
    explanationUp: Number(row.explanationUp),
    explanationDown: Number(row.explanationDown),
    meanClickedPosition: row.meanClickedPosition === null ? null : Number(row.meanClickedPosition),
  }));
}
