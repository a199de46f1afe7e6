/**
 * A user's taste profile, built from their events alone: what the vector source searches with (a few
 * interest directions and a direction to avoid) and the weighted history the collaborative source scores
 * from. Pure: the caller loads the events and the item embeddings (see src/services/profiles.service.ts).
 *
 * How an event counts:
 * - its type's weight (`eventWeights`; a type left out counts 0), times
 * - a decay, 0.5^((latest − occurredAt) / halfLife), where `latest` is this user's own latest event, so an
 *   imported history from years ago weighs as if it were recent, and only the order within it matters;
 * - `rate` events are also multiplied by the rating centred on the user's own mean rating,
 *   (value − mean) / 2 clamped to [−1, 1]: on the 0 to 5 scale, two stars above the mean is a full "like",
 *   and a rating below the user's usual counts against the item. The mean is shrunk toward 3 with a
 *   pseudo-count of 2 ratings, (Σ ratings + 2 × 3) / (n + 2), so a user's single 5-star rating is still
 *   positive (+0.67) instead of being their mean (0). Only an item's latest rating counts: a rating is a
 *   state the user can change, not a signal that adds up;
 * - `progress` events are multiplied by their value (0 to 1): watching 10% of a title says less than 90%.
 *
 * The weights of an item's events add up (a play, then a complete, then a like). Items with a positive total
 * and an embedding shape the interests (see clusterInterests); those with a negative one the negative
 * direction, their mean direction weighted by |weight|, whose `weight` is that total magnitude. The history
 * keeps both, signed, rounded to 4 decimals. Interest and negative vectors are rounded to 5 decimals: the
 * JSON stays small, and the cosines they give move by well under 0.001.
 */
import type { StoredProfile } from '../db/database.ts';

/** One event of the user, as the profile reads it. */
export interface ProfileEvent {
  itemId: string;
  type: string;
  /** The rating of a `rate` event (0 to 5), the share watched of a `progress` event (0 to 1), else null. */
  value: number | null;
  occurredAt: Date;
}

/** From `config.recommender`: eventWeights, profileHalfLifeDays, profileInterests. */
export interface ProfileOptions {
  /** Weight of each event type; a type left out counts for nothing. */
  eventWeights: Readonly<Partial<Record<string, number>>>;
  /** An event this many days older than the user's latest weighs half as much. */
  halfLifeDays: number;
  /** Interest vectors kept at most. */
  interests: number;
}

/** The profile document stored in user_profiles.profile. */
export type UserProfile = StoredProfile;
export type ProfileInterest = UserProfile['interests'][number];

/** Items kept in the history, heaviest first: enough for the collaborative source, small enough to store. */
export const PROFILE_HISTORY_SIZE = 200;
/** Items named with each interest (and with the negative direction), heaviest first, for explanations. */
export const INTEREST_ITEM_IDS = 5;
/** An interest needs at least this many items per cluster: fewer, and one odd title would be an interest. */
const ITEMS_PER_INTEREST = 3;
/** A cluster with less than this share of the positive weight is noise, not an interest. */
const MIN_INTEREST_SHARE = 0.1;
/** k-means rounds at most: on a few hundred items it settles in 2 to 5. */
const KMEANS_ITERATIONS = 10;
/** Items considered as seeds of a further interest: the heaviest ones, which bounds the seeding cost. */
const SEED_CANDIDATES = 100;
/** Ratings are 0 to 5; a user's mean is shrunk toward the middle with this many pseudo-ratings. */
const RATING_PRIOR_MEAN = 3;
const RATING_PRIOR_COUNT = 2;
const MS_PER_DAY = 86_400_000;

/**
 * Builds one user's profile from their events (any order; the result does not depend on it) and the
 * embeddings of their items (unit vectors; an item without one still counts in the history). Deterministic:
 * the same events and embeddings give the same profile, ties broken by item id.
 */
export function buildProfile(
  events: readonly ProfileEvent[],
  embeddings: ReadonlyMap<string, Float32Array>,
  options: ProfileOptions,
): UserProfile {
  const weights = itemWeights(events, options);
  if (weights.size === 0) return { interests: [], negative: null, history: [], interactions: [] };

  // Heaviest first by |weight|, ties by item id: the order everything below is built in.
  const ranked = [...weights]
    .map(([itemId, weight]) => ({ itemId, weight }))
    .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight) || compareIds(a.itemId, b.itemId));
  const history = ranked
    .map(({ itemId, weight }) => ({ itemId, weight: round(weight, 4) }))
    .filter((entry) => entry.weight !== 0)
    .slice(0, PROFILE_HISTORY_SIZE);

  // The direction to avoid comes from explicit rejections (dislike, skip: types weighted below 0), not from
  // ratings below the user's mean: a 2-star film is still near what they love (same genres), and pushing
  // its neighbourhood away cost a tenth of NDCG@10 on movielens-100k (0.160 -> 0.145).
  const rejected = new Set(
    events.filter((event) => (options.eventWeights[event.type] ?? 0) < 0).map((event) => event.itemId),
  );
  const positive: WeightedItem[] = [];
  const negative: WeightedItem[] = [];
  for (const { itemId, weight } of ranked) {
    const vector = embeddings.get(itemId);
    if (!vector || weight === 0 || !(norm(vector) > 0)) continue;
    if (weight > 0) positive.push({ itemId, weight, vector });
    else if (rejected.has(itemId)) negative.push({ itemId, weight: -weight, vector });
  }

  const interests = clusterInterests(positive, options.interests)
    .map(describeCluster)
    .filter((interest): interest is ProfileInterest => interest !== undefined)
    .sort((a, b) => b.weight - a.weight || compareIds(a.itemIds[0] ?? '', b.itemIds[0] ?? ''));
  const interactions = [...interactionStrengths(events, options)]
    .map(([itemId, weight]) => ({ itemId, weight: round(weight, 4) }))
    .filter((entry) => entry.weight > 0)
    .sort((a, b) => b.weight - a.weight || compareIds(a.itemId, b.itemId))
    .slice(0, PROFILE_HISTORY_SIZE);
  return { interests, negative: describeCluster(negative) ?? null, history, interactions };
}

/**
 * How strongly the user engaged with each item, for the collaborative source: like itemWeights, except that
 * a rating counts as rating / 5 rather than against the user's mean. Item-to-item models learn from "who
 * watched what", where a middling rating is still a watch: on movielens-100k, scoring from ratings-as-weights
 * gives NDCG@10 0.168 where centred ratings (which drop below-mean items) lose a tenth of that.
 */
export function interactionStrengths(
  events: readonly ProfileEvent[],
  options: ProfileOptions,
): Map<string, number> {
  if (events.length === 0) return new Map();
  let latest = -Infinity;
  for (const event of events) latest = Math.max(latest, event.occurredAt.getTime());
  const halfLifeMs = options.halfLifeDays * MS_PER_DAY;
  const sorted = events.toSorted(
    (a, b) => a.occurredAt.getTime() - b.occurredAt.getTime() || compareIds(a.itemId, b.itemId),
  );
  const strengths = new Map<string, number>();
  for (const event of sorted) {
    const typeWeight = options.eventWeights[event.type] ?? 0;
    if (typeWeight === 0) continue;
    const signal =
      event.type === 'rate'
        ? clamp((event.value ?? 0) / 5, 0, 1)
        : event.type === 'progress'
          ? clamp(event.value ?? 0, 0, 1)
          : 1;
    const decay = 0.5 ** ((latest - event.occurredAt.getTime()) / halfLifeMs);
    strengths.set(event.itemId, (strengths.get(event.itemId) ?? 0) + typeWeight * signal * decay);
  }
  return strengths;
}

/**
 * Each item's summed, decayed weight. Exported for tests and for callers that need the weights without
 * the vectors.
 */
export function itemWeights(events: readonly ProfileEvent[], options: ProfileOptions): Map<string, number> {
  if (events.length === 0) return new Map();
  // A fixed order makes the floating-point sums, and so the profile, independent of the input order.
  const sorted = events.toSorted(
    (a, b) =>
      a.occurredAt.getTime() - b.occurredAt.getTime() ||
      compareIds(a.itemId, b.itemId) ||
      compareIds(a.type, b.type) ||
      (a.value ?? -1) - (b.value ?? -1),
  );
  const latest = sorted.at(-1)!.occurredAt.getTime();
  const halfLifeMs = options.halfLifeDays * MS_PER_DAY;

  // The latest rating of each item (sorted oldest first, so the last one seen wins).
  const ratings = new Map<string, ProfileEvent>();
  for (const event of sorted)
    if (event.type === 'rate' && event.value !== null) ratings.set(event.itemId, event);
  let ratingSum = 0;
  for (const event of ratings.values()) ratingSum += event.value!;
  const meanRating =
    (ratingSum + RATING_PRIOR_MEAN * RATING_PRIOR_COUNT) / (ratings.size + RATING_PRIOR_COUNT);

  const weights = new Map<string, number>();
  for (const event of sorted) {
    const typeWeight = options.eventWeights[event.type] ?? 0;
    if (typeWeight === 0) continue;
    let signal: number;
    if (event.type === 'rate') {
      if (ratings.get(event.itemId) !== event) continue;
      signal = clamp((event.value! - meanRating) / 2, -1, 1);
    } else if (event.type === 'progress') signal = clamp(event.value ?? 0, 0, 1);
    else signal = 1;
    const decay = 0.5 ** ((latest - event.occurredAt.getTime()) / halfLifeMs);
    weights.set(event.itemId, (weights.get(event.itemId) ?? 0) + typeWeight * signal * decay);
  }
  for (const [itemId, weight] of weights) if (weight === 0) weights.delete(itemId);
  return weights;
}

interface WeightedItem {
  itemId: string;
  /** Positive: the item's weight, or the magnitude of a negative one. */
  weight: number;
  vector: Float32Array;
}

/**
 * Groups the items (heaviest first) into at most `maxInterests` clusters by a weighted spherical k-means:
 * seeded deterministically (see seedCentres), then a few rounds of "assign each item to its nearest centre,
 * move each centre to its items' weighted mean direction". k is cut so that each cluster can have
 * ITEMS_PER_INTEREST items, and clusters under MIN_INTEREST_SHARE of the weight are dropped. One taste may come out as two nearby interests: harmless (both search the same region), where
 * merging two real tastes into their mean would search between them, for neither. Deterministic: no
 * randomness, ties go to the earlier item or cluster.
 */
function clusterInterests(items: readonly WeightedItem[], maxInterests: number): WeightedItem[][] {
  if (items.length === 0) return [];
  const k = Math.max(1, Math.min(maxInterests, Math.floor(items.length / ITEMS_PER_INTEREST)));
  let centres = seedCentres(items, k);
  let assignment: number[] = [];
  let clusters: WeightedItem[][] = [];
  for (let round = 0; round < KMEANS_ITERATIONS; round++) {
    const next = items.map((item) => nearest(centres, item.vector));
    if (round > 0 && next.every((cluster, index) => cluster === assignment[index])) break;
    const grouped: WeightedItem[][] = centres.map(() => []);
    items.forEach((item, index) => grouped[next[index]!]!.push(item));
    // A centre left without items goes; the others are renumbered, and the assignment with them.
    const renumbered = grouped.map(
      (cluster, index) => grouped.slice(0, index).filter((c) => c.length > 0).length,
    );
    assignment = next.map((cluster) => renumbered[cluster]!);
    clusters = grouped.filter((cluster) => cluster.length > 0);
    centres = clusters.map((cluster) => unit(weightedSum(cluster)));
    if (clusters.length === 1) break;
  }
  if (clusters.length === 0) clusters = [[...items]];

  const total = items.reduce((sum, item) => sum + item.weight, 0);
  return clusters.filter((cluster) => sumWeights(cluster) >= MIN_INTEREST_SHARE * total);
}

/**
 * k starting centres: the heaviest item, then greedily the item that would gain the most, Σ weight × the
 * rise in similarity to the nearest centre over the items it would take. Plain farthest-first picks the odd
 * one out (one documentary among horror films), whose cluster then stays too small to keep; the greedy gain
 * picks the middle of the largest group not yet covered. Candidates are the SEED_CANDIDATES heaviest items,
 * which bounds the cost at O(candidates × items × dimension) per seed.
 */
function seedCentres(items: readonly WeightedItem[], k: number): Float64Array[] {
  const centres = [Float64Array.from(items[0]!.vector)];
  const closest = items.map((item) => dot(centres[0]!, item.vector));
  const candidates = items.slice(0, SEED_CANDIDATES);
  while (centres.length < k) {
    let best = -1;
    let bestGain = 0;
    candidates.forEach((candidate, index) => {
      let gain = 0;
      items.forEach((item, i) => {
        const rise = dot(candidate.vector, item.vector) - closest[i]!;
        if (rise > 0) gain += item.weight * rise;
      });
      if (gain > bestGain + 1e-12) {
        best = index;
        bestGain = gain;
      }
    });
    if (best < 0) break;
    const centre = Float64Array.from(candidates[best]!.vector);
    centres.push(centre);
    items.forEach((item, i) => (closest[i] = Math.max(closest[i]!, dot(centre, item.vector))));
  }
  return centres;
}

/** A cluster as stored: its unit mean direction, total weight and heaviest items; undefined when empty. */
function describeCluster(cluster: readonly WeightedItem[]): ProfileInterest | undefined {
  if (cluster.length === 0) return undefined;
  const direction = unit(weightedSum(cluster));
  if (!(norm(direction) > 0)) return undefined;
  return {
    vector: Array.from(direction, (value) => round(value, 5)),
    weight: round(sumWeights(cluster), 4),
    itemIds: cluster
      .toSorted((a, b) => b.weight - a.weight || compareIds(a.itemId, b.itemId))
      .slice(0, INTEREST_ITEM_IDS)
      .map((item) => item.itemId),
  };
}

function nearest(centres: readonly Float64Array[], vector: Float32Array): number {
  let best = 0;
  let bestSimilarity = -Infinity;
  centres.forEach((centre, index) => {
    const similarity = dot(centre, vector);
    if (similarity > bestSimilarity) {
      best = index;
      bestSimilarity = similarity;
    }
  });
  return best;
}

function weightedSum(cluster: readonly WeightedItem[]): Float64Array {
  const sum = new Float64Array(cluster[0]?.vector.length ?? 0);
  for (const { weight, vector } of cluster)
    for (let d = 0; d < sum.length; d++) sum[d] = sum[d]! + weight * (vector[d] ?? 0);
  return sum;
}

function sumWeights(cluster: readonly WeightedItem[]): number {
  return cluster.reduce((sum, item) => sum + item.weight, 0);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  const length = Math.min(a.length, b.length);
  for (let d = 0; d < length; d++) sum += a[d]! * b[d]!;
  return sum;
}

function norm(vector: ArrayLike<number>): number {
  return Math.sqrt(dot(vector, vector));
}

/** The vector scaled to unit length; a zero vector stays zero. */
function unit(vector: Float64Array): Float64Array {
  const length = norm(vector);
  return length > 0 ? vector.map((value) => value / length) : vector;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** Rounded to `digits` decimals, without a negative zero (it would be written "0" anyway). */
function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale || 0;
}

/** Code-unit order, the same on every machine (localeCompare is not). */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
