import { type Expression, type SqlBool, sql } from 'kysely';
import { type ItemFilters, allowedMaturity } from '../recommender/item-filters.ts';

/**
 * One SQL condition on the `items` table (referenced as `items`) for a set of filters, shared by every
 * candidate query and by the final check of a page, so that all of them obey the same rules. Unknown
 * maturity labels are rejected by the request schemas before they reach here.
 */
export function itemFilterCondition(filters: ItemFilters, now: Date = new Date()): Expression<SqlBool> {
  const conditions: Expression<SqlBool>[] = [];
  const textArray = (values: readonly string[]) => sql`${[...values]}::text[]`;
  if (filters.types?.length) conditions.push(sql<SqlBool>`items.type = ANY(${textArray(filters.types)})`);
  if (filters.genresAny?.length)
    conditions.push(sql<SqlBool>`items.genres && ${textArray(filters.genresAny)}`);
  if (filters.genresAll?.length)
    conditions.push(sql<SqlBool>`items.genres @> ${textArray(filters.genresAll)}`);
  if (filters.genresNone?.length)
    conditions.push(sql<SqlBool>`NOT (items.genres && ${textArray(filters.genresNone)})`);
  if (filters.tagsAny?.length) conditions.push(sql<SqlBool>`items.tags && ${textArray(filters.tagsAny)}`);
  if (filters.tagsNone?.length)
    conditions.push(sql<SqlBool>`NOT (items.tags && ${textArray(filters.tagsNone)})`);
  if (filters.languages?.length)
    conditions.push(sql<SqlBool>`items.language = ANY(${textArray(filters.languages)})`);
  if (filters.region !== undefined)
    conditions.push(
      sql<SqlBool>`(cardinality(items.regions) = 0 OR ${filters.region}::text = ANY(items.regions))`,
    );
  if (filters.maxMaturityRating !== undefined) {
    const allowed = allowedMaturity(filters.maxMaturityRating);
    // An unknown maximum allows nothing rather than everything (the schemas refuse it first).
    const labels = allowed?.labels ?? [];
    const maxAge = allowed?.maxAge ?? -1;
    // CASE, not OR: Postgres may evaluate OR operands in any order, and the cast must only see digits.
    conditions.push(sql<SqlBool>`CASE
      WHEN items.maturity_rating ~ '^[0-9]{1,2}\\+?$' THEN rtrim(items.maturity_rating, '+')::int <= ${maxAge}::int
      ELSE coalesce(upper(items.maturity_rating) = ANY(${textArray(labels)}), false) END`);
  }
  if (filters.yearFrom !== undefined)
    conditions.push(sql<SqlBool>`items.release_year >= ${filters.yearFrom}::int`);
  if (filters.yearTo !== undefined)
    conditions.push(sql<SqlBool>`items.release_year <= ${filters.yearTo}::int`);
  // Like an unrated item under a maturity limit, an item of unknown duration cannot be shown to obey a
  // duration limit, so it is left out (a 3-hour film with no duration must not pass "under 2 hours").
  if (filters.minDurationSeconds !== undefined)
    conditions.push(
      sql<SqlBool>`coalesce(items.duration_seconds >= ${filters.minDurationSeconds}::int, false)`,
    );
  if (filters.maxDurationSeconds !== undefined)
    conditions.push(
      sql<SqlBool>`coalesce(items.duration_seconds <= ${filters.maxDurationSeconds}::int, false)`,
    );
  if (filters.availableNow ?? true) {
    conditions.push(
      sql<SqlBool>`(items.available_from IS NULL OR items.available_from <= ${now}::timestamptz)
        AND (items.available_until IS NULL OR items.available_until > ${now}::timestamptz)`,
    );
  }
  for (const [key, condition] of Object.entries(filters.attributes ?? {})) {
    const value = sql`items.attributes -> ${key}::text`;
    if (typeof condition !== 'object') {
      conditions.push(sql<SqlBool>`${value} = ${JSON.stringify(condition)}::jsonb`);
    } else if ('in' in condition) {
      conditions.push(
        sql<SqlBool>`${value} = ANY(${condition.in.map((entry) => JSON.stringify(entry))}::jsonb[])`,
      );
    } else {
      const number = sql`(CASE WHEN jsonb_typeof(${value}) = 'number' THEN (${value})::text::float8 END)`;
      const bounds: [keyof typeof condition, string][] = [
        ['gte', '>='],
        ['gt', '>'],
        ['lte', '<='],
        ['lt', '<'],
      ];
      for (const [bound, operator] of bounds) {
        const limit = condition[bound];
        if (limit !== undefined)
          conditions.push(sql<SqlBool>`coalesce(${number} ${sql.raw(operator)} ${limit}::float8, false)`);
      }
    }
  }
  if (conditions.length === 0) return sql<SqlBool>`true`;
  return sql<SqlBool>`(${sql.join(conditions, sql` AND `)})`;
}
