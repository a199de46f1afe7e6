/**
 * The business rules a page must obey, as the engine passes them to every candidate query. Pure data and
 * the maturity scale; src/repositories/item-filters.repository.ts turns them into one SQL condition, so
 * each source and the final check apply the very same rules.
 */

/** A condition on one key of an item's `attributes`: a value to equal, a list to be in, or a range. */
export type AttributeCondition =
  | string
  | number
  | boolean
  | { in: (string | number | boolean)[] }
  | { gte?: number; gt?: number; lte?: number; lt?: number };

export interface ItemFilters {
  /** Item types, any of. */
  types?: readonly string[] | undefined;
  /** At least one of these genres. */
  genresAny?: readonly string[] | undefined;
  /** All of these genres. */
  genresAll?: readonly string[] | undefined;
  /** None of these genres. */
  genresNone?: readonly string[] | undefined;
  /** At least one of these tags. */
  tagsAny?: readonly string[] | undefined;
  /** None of these tags. */
  tagsNone?: readonly string[] | undefined;
  /** Original language, any of (exact BCP 47 tags). */
  languages?: readonly string[] | undefined;
  /** The viewer's region: items listing regions must list this one; items listing none play everywhere. */
  region?: string | undefined;
  /** Highest maturity rating allowed (see MATURITY_AGES); items without a known rating are then excluded. */
  maxMaturityRating?: string | undefined;
  yearFrom?: number | undefined;
  yearTo?: number | undefined;
  /** Items at least this long, in seconds; items of unknown duration are then excluded. */
  minDurationSeconds?: number | undefined;
  /** Items at most this long, in seconds; items of unknown duration are then excluded. */
  maxDurationSeconds?: number | undefined;
  /** Only items inside their availability window now (default true). */
  availableNow?: boolean | undefined;
  attributes?: Readonly<Record<string, AttributeCondition>> | undefined;
}

/**
 * Minimum viewer age per published rating: US film (MPA), US TV Parental Guidelines, UK (BBFC) and the
 * common numeric forms ("16", "16+"). NR and UR (not rated) count as adult-only.
 */
export const MATURITY_AGES: Readonly<Record<string, number>> = {
  G: 0,
  PG: 10,
  'PG-13': 13,
  R: 17,
  'NC-17': 18,
  'TV-Y': 0,
  'TV-Y7': 7,
  'TV-Y7-FV': 7,
  'TV-G': 0,
  'TV-PG': 10,
  'TV-14': 14,
  'TV-MA': 17,
  U: 0,
  '12A': 12,
  NR: 18,
  UR: 18,
};

const NUMERIC_RATING = /^(\d{1,2})\+?$/;

/** The minimum age of a rating label, or undefined for a label this scale does not know. */
export function maturityAge(rating: string): number | undefined {
  const numeric = NUMERIC_RATING.exec(rating.trim());
  if (numeric) return Number(numeric[1]);
  return MATURITY_AGES[rating.trim().toUpperCase()];
}

/** The labels allowed under `max` and the highest numeric age; undefined when `max` is unknown. */
export function allowedMaturity(max: string): { labels: string[]; maxAge: number } | undefined {
  const maxAge = maturityAge(max);
  if (maxAge === undefined) return undefined;
  const labels = Object.entries(MATURITY_AGES)
    .filter(([, age]) => age <= maxAge)
    .map(([label]) => label);
  return { labels, maxAge };
}

/** True when no rule is set beyond the default availability check. */
export function hasFilters(filters: ItemFilters): boolean {
  return Object.entries(filters).some(
    ([key, value]) =>
      key !== 'availableNow' &&
      value !== undefined &&
      !(Array.isArray(value) && value.length === 0) &&
      !(key === 'attributes' && Object.keys(value as object).length === 0),
  );
}
