/**
 * Offline evaluation of recommenders, the protocol of the engine issue: for each user, the latest 20% of
 * their ratings are held out; a held-out rating of 4 or more is relevant; the recommender proposes k items
 * outside the user's training items; Recall@k, NDCG@k (binary gains) and MRR@k are averaged over users
 * with at least one relevant item, with catalog coverage and intra-list genre diversity alongside.
 * Pure functions, no database: `marquee eval` and the benches feed them.
 */
import { type InteractionMatrix, userRow } from './interactions.ts';

export interface Rating {
  userId: string;
  itemId: string;
  rating: number;
  time: number;
}

export interface SplitOptions {
  /** Share of each user's ratings held out, latest first; rounded, at least one. */
  testFraction?: number;
  /** Users with fewer ratings stay in training only. */
  minRatings?: number;
}

export interface RatingSplit {
  train: Rating[];
  /** Held-out ratings by user id, oldest first. */
  test: Map<string, Rating[]>;
}

export const PROTOCOL = { testFraction: 0.2, minRatings: 5, k: 10, relevantFrom: 4 } as const;

/**
 * Per user: ratings sorted by time (ties by item id, see `byTimeThenItem`), the latest round(n × testFraction) (at least 1)
 * held out; users with fewer than `minRatings` ratings go wholly to training. O(n log n).
 */
export function splitLatestPerUser(ratings: Iterable<Rating>, options: SplitOptions = {}): RatingSplit {
  const testFraction = options.testFraction ?? PROTOCOL.testFraction;
  const minRatings = options.minRatings ?? PROTOCOL.minRatings;
  const byUser = new Map<string, Rating[]>();
  for (const rating of ratings) {
    const list = byUser.get(rating.userId);
    if (list) list.push(rating);
    else byUser.set(rating.userId, [rating]);
  }
  const train: Rating[] = [];
  const test = new Map<string, Rating[]>();
  for (const [userId, list] of byUser) {
    if (list.length < minRatings) {
      train.push(...list);
      continue;
    }
    const sorted = list.toSorted(byTimeThenItem);
    const held = Math.max(1, Math.round(sorted.length * testFraction));
    train.push(...sorted.slice(0, sorted.length - held));
    test.set(userId, sorted.slice(sorted.length - held));
  }
  return { train, test };
}

/**
 * Ratings often share a timestamp (movielens: a whole session in one second), and which of them are held
 * out moves NDCG@10 by ±0.01; ordering ties by item id (code-unit order) makes the split independent of
 * input order and reproduces the reference figures of the engine issue exactly.
 */
export function byTimeThenItem(a: Rating, b: Rating): number {
  return a.time - b.time || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0);
}

/** Share of the relevant items found in the first k: hits / |relevant| (0 when nothing is relevant). */
export function recallAtK<T>(recommended: readonly T[], relevant: ReadonlySet<T>, k: number): number {
  if (relevant.size === 0) return 0;
  let hits = 0;
  for (const item of recommended.slice(0, k)) if (relevant.has(item)) hits++;
  return hits / relevant.size;
}

/**
 * DCG / ideal DCG over the first k, binary gains: a hit at rank r (from 1) is worth 1 / log2(r + 1); the
 * ideal list puts min(k, |relevant|) hits first.
 */
export function ndcgAtK<T>(recommended: readonly T[], relevant: ReadonlySet<T>, k: number): number {
  let dcg = 0;
  recommended.slice(0, k).forEach((item, rank) => {
    if (relevant.has(item)) dcg += 1 / Math.log2(rank + 2);
  });
  let ideal = 0;
  for (let rank = 0; rank < Math.min(k, relevant.size); rank++) ideal += 1 / Math.log2(rank + 2);
  return ideal === 0 ? 0 : dcg / ideal;
}

/** 1 / rank of the first relevant item within the first k, 0 if none. */
export function reciprocalRankAtK<T>(recommended: readonly T[], relevant: ReadonlySet<T>, k: number): number {
  const rank = recommended.slice(0, k).findIndex((item) => relevant.has(item));
  return rank < 0 ? 0 : 1 / (rank + 1);
}

/** Distinct items recommended across all lists / catalog size. */
export function catalogCoverage<T>(lists: Iterable<readonly T[]>, catalogSize: number): number {
  const distinct = new Set<T>();
  for (const list of lists) for (const item of list) distinct.add(item);
  return catalogSize === 0 ? 0 : distinct.size / catalogSize;
}

/** 1 − |A ∩ B| / |A ∪ B|; two empty sets are identical (0). */
export function jaccardDistance<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): number {
  if (a.size === 0 && b.size === 0) return 0;
  let common = 0;
  for (const x of a) if (b.has(x)) common++;
  return 1 - common / (a.size + b.size - common);
}

/**
 * Mean Jaccard distance between the feature sets (genres) of every pair in one list; undefined for a list
 * of fewer than two items. Items without features count as an empty set. O(list² × features).
 */
export function intraListDiversity<T, F>(
  list: readonly T[],
  featuresOf: (item: T) => ReadonlySet<F> | undefined,
): number | undefined {
  if (list.length < 2) return undefined;
  const empty = new Set<F>();
  const features = list.map((item) => featuresOf(item) ?? empty);
  let total = 0;
  let pairs = 0;
  for (let a = 0; a < features.length; a++) {
    for (let b = a + 1; b < features.length; b++) {
      total += jaccardDistance(features[a]!, features[b]!);
      pairs++;
    }
  }
  return total / pairs;
}

/** Asked once per evaluated user: item indices, best first; `exclude` holds the user's training items. */
export type Recommend = (
  userIndex: number,
  options: { k: number; exclude: ReadonlySet<number> },
) => readonly number[];

export interface EvaluationOptions {
  /** The matrix the recommender was trained on (built from `split.train`), for ids and training items. */
  train: InteractionMatrix;
  /** Held-out ratings by user id. */
  test: ReadonlyMap<string, readonly Rating[]>;
  recommend: Recommend;
  k?: number;
  /** Lowest held-out rating that counts as relevant. */
  relevantFrom?: number;
  /** Denominator of coverage; defaults to the matrix's item count (build it with the whole catalog). */
  catalogSize?: number;
  /** Genres of an item id, for intra-list diversity; without it diversity is undefined. */
  genresOf?: (itemId: string) => ReadonlySet<string> | undefined;
}

export interface EvaluationResult {
  /** Users averaged over: held-out users with at least one relevant item. */
  users: number;
  recall: number;
  ndcg: number;
  mrr: number;
  coverage: number;
  diversity: number | undefined;
}

/**
 * Runs the protocol over every held-out user. Whatever the recommender returns, training items are dropped
 * and the list cut to k before scoring, so a leaky recommender cannot inflate the figures. A held-out item
 * the user also has in training (a repeat) cannot be recommended and so is not counted relevant (never the
 * case on movielens, where each pair is rated once).
 */
export function evaluate(options: EvaluationOptions): EvaluationResult {
  const k = options.k ?? PROTOCOL.k;
  const relevantFrom = options.relevantFrom ?? PROTOCOL.relevantFrom;
  const { train } = options;
  let users = 0;
  let recall = 0;
  let ndcg = 0;
  let mrr = 0;
  let diversity = 0;
  let diverseLists = 0;
  const lists: string[][] = [];

  for (const [userId, heldOut] of options.test) {
    const u = train.userIndex.get(userId);
    const trainItems = new Set<number>(u === undefined ? [] : userRow(train, u).items);
    const relevant = new Set<string>();
    for (const rating of heldOut) {
      const i = train.itemIndex.get(rating.itemId);
      if (rating.rating >= relevantFrom && (i === undefined || !trainItems.has(i)))
        relevant.add(rating.itemId);
    }
    if (relevant.size === 0) continue;

    const recommended =
      u === undefined
        ? []
        : options
            .recommend(u, { k, exclude: trainItems })
            .filter((i) => !trainItems.has(i))
            .slice(0, k)
            .map((i) => train.itemIds[i]!);
    users++;
    recall += recallAtK(recommended, relevant, k);
    ndcg += ndcgAtK(recommended, relevant, k);
    mrr += reciprocalRankAtK(recommended, relevant, k);
    lists.push(recommended);
    if (options.genresOf) {
      const listDiversity = intraListDiversity(recommended, options.genresOf);
      if (listDiversity !== undefined) {
        diversity += listDiversity;
        diverseLists++;
      }
    }
  }
  const mean = (total: number) => (users === 0 ? 0 : total / users);
  return {
    users,
    recall: mean(recall),
    ndcg: mean(ndcg),
    mrr: mean(mrr),
    coverage: catalogCoverage(lists, options.catalogSize ?? train.itemIds.length),
    diversity: diverseLists === 0 ? undefined : diversity / diverseLists,
  };
}
