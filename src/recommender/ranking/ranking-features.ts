/**
 * What the learned ranker sees of a (user, candidate item) pair: the candidate sources' scores and ranks,
 * the item's statistics, and how the item relates to the user's history. Pure; the same code builds the
 * training rows (in the worker, from the event log) and the serving rows (in the API, from the model in
 * memory), so the two cannot drift apart.
 *
 * Every feature is a ratio, a rank, a count or a logarithm: none depends on the absolute scale of a
 * model's scores, which changes between a training on part of the log and a serving model trained on all.
 */

/** Item-item lists in CSR form: item i's neighbours are entries `ptr[i]` to `ptr[i + 1]`, best first. */
export interface NeighbourTable {
  readonly ptr: ArrayLike<number>;
  readonly index: ArrayLike<number>;
  readonly score: ArrayLike<number>;
}

export const COLLABORATIVE_SOURCES = ['item-knn', 'rp3beta', 'ease'] as const;
export type CollaborativeSourceName = (typeof COLLABORATIVE_SOURCES)[number];

const PER_SOURCE_FEATURES = ['score', 'relative', 'rank', 'support', 'best'] as const;

const ITEM_AND_USER_FEATURES = [
  'popularity',
  'popularity.rank',
  'trending',
  'item.rating',
  'item.age-days',
  'item.release-age-years',
  'genre.affinity-mean',
  'genre.affinity-max',
  'type.affinity',
  'credits.affinity',
  'user.history',
  'user.mainstream',
  'content.similarity',
] as const;
export type RankingFeature =
  | `${CollaborativeSourceName}.${(typeof PER_SOURCE_FEATURES)[number]}`
  | (typeof ITEM_AND_USER_FEATURES)[number];
/** The feature columns, in order: five per collaborative source, then the item's and the user's. */
export const RANKING_FEATURES: readonly RankingFeature[] = [
  ...COLLABORATIVE_SOURCES.flatMap((source) =>
    PER_SOURCE_FEATURES.map((name): RankingFeature => `${source}.${name}`),
  ),
  ...ITEM_AND_USER_FEATURES,
];
export const RANKING_FEATURE_COUNT = RANKING_FEATURES.length;
const FEATURE = Object.fromEntries(RANKING_FEATURES.map((name, at) => [name, at])) as Record<
  RankingFeature,
  number
>;

/** What the ranker knows of the catalog, by dense item index. */
export interface RankingCatalog {
  readonly items: number;
  /** The collaborative models that fit this catalog; a model absent (EASE beyond its size) is missing. */
  readonly sources: Partial<Record<CollaborativeSourceName, NeighbourTable>>;
  /** Distinct users with a positive event, per item. */
  readonly popularity: ArrayLike<number>;
  /** Item indices, most popular first. */
  readonly popularityRanking: ArrayLike<number>;
  /** Positive events decayed with a half-life of a week. */
  readonly trending: ArrayLike<number>;
  /** Each item's mean explicit rating on a 0-1 scale, shrunk towards the catalog mean; NaN unrated. */
  readonly rating?: ArrayLike<number> | undefined;
  /** When each item was first seen (epoch ms), NaN unknown. */
  readonly firstSeen: ArrayLike<number>;
  /** Release year, NaN unknown. */
  readonly releaseYear: ArrayLike<number>;
  /** Genre ids of item i: `genreIndex[genrePtr[i]]` to `genreIndex[genrePtr[i + 1] - 1]`. */
  readonly genrePtr: ArrayLike<number>;
  readonly genreIndex: ArrayLike<number>;
  /** Type id of each item (movie, series, episode...), NaN unknown. */
  readonly types?: ArrayLike<number> | undefined;
  /** People ids credited on item i (its directors and first cast), as genrePtr / genreIndex. */
  readonly creditPtr?: ArrayLike<number> | undefined;
  readonly creditIndex?: ArrayLike<number> | undefined;
  /** Each item's position in popularityRanking, NaN for items without a positive event. */
  readonly popularityRank?: ArrayLike<number> | undefined;
  /** An item's content vector (unit), undefined when it has none: content.similarity reads it. */
  readonly vectorOf?: ((itemIndex: number) => ArrayLike<number> | undefined) | undefined;
  /**
   * The dot product of an item's vector with `query`, undefined when it has none: content.similarity reads it
   * instead of vectorOf when given (a process's int8 vectors answer it without decoding each candidate's).
   */
  readonly dotOf?: ((itemIndex: number, query: ArrayLike<number>) => number | undefined) | undefined;
}

export interface RankingUser {
  /**
   * History item indices and their weights (positive: liked; the ranker scores from these), the strongest
   * or most recent first: content similarity reads the first CONTENT_HISTORY.
   */
  readonly items: ArrayLike<number>;
  readonly weights: ArrayLike<number>;
  /** Now, in epoch ms: item ages are counted from it. */
  readonly now: number;
}

export interface CandidateOptions {
  /** Candidates each collaborative source proposes. */
  perSource: number;
  /** Most popular items proposed. */
  popular: number;
  /** Item indices never proposed (the history is always excluded). */
  exclude?: ReadonlySet<number> | undefined;
  /** Item indices also proposed (from other sources: content, fresh, editorial...). */
  extra?: Iterable<number> | undefined;
}

export interface RankingRows {
  /** Candidate item indices, one per row. */
  items: Uint32Array;
  /**
   * Per row, the history item whose single vote for the candidate was strongest in any collaborative
   * source (its evidence), or -1 when no history item points to it.
   */
  evidence: Int32Array;
  /** Row-major features, RANKING_FEATURE_COUNT per row; NaN where a feature is unknown. */
  features: Float32Array;
}

/**
 * One collaborative source's votes for the items it reaches from a user's history, in arrays indexed by item
 * (reused from one user to the next: only the items reached are reset).
 */
interface SourceScores {
  /** The items reached, in the order first reached. */
  touched: number[];
  reached: Uint8Array;
  score: Float64Array;
  support: Uint32Array;
  best: Float64Array;
  /** The history item behind `best`. */
  bestFrom: Int32Array;
  rank: Int32Array;
  top: number;
}

/**
 * The candidates of one user (the union of each collaborative source's best `perSource`, the `popular`
 * most popular and any `extra`), each with its feature row.
 */
export function rankingRows(
  catalog: RankingCatalog,
  user: RankingUser,
  options: CandidateOptions,
): RankingRows {
  let totalWeight = 0;
  for (let h = 0; h < user.items.length; h++) totalWeight += Math.max(0, user.weights[h]!);
  // The history and the exclusions as a mask over the catalog (the hot loops test it once per neighbour).
  const blockedItems = blockedMask(catalog.items, user.items, options.exclude);
  const blocked = (i: number) => i < catalog.items && blockedItems[i] === 1;
  const candidates = new Set<number>();
  const bySource = new Map<CollaborativeSourceName, SourceScores>();
  try {
    for (const name of COLLABORATIVE_SOURCES) {
      const table = catalog.sources[name];
      if (!table) continue;
      const scores = sourceScores(table, user, blockedItems, catalog.items);
      const { score } = scores;
      const ranked = scores.touched.slice().sort((a, b) => score[b]! - score[a]! || a - b);
      ranked.forEach((item, rank) => (scores.rank[item] = rank));
      scores.top = ranked.length > 0 ? score[ranked[0]!]! : 0;
      for (const item of ranked.slice(0, options.perSource)) candidates.add(item);
      bySource.set(name, scores);
    }
    let popular = 0;
    for (let p = 0; p < catalog.popularityRanking.length && popular < options.popular; p++) {
      const item = catalog.popularityRanking[p]!;
      if (blocked(item)) continue;
      candidates.add(item);
      popular++;
    }
    for (const item of options.extra ?? []) if (item < catalog.items && !blocked(item)) candidates.add(item);
  } finally {
    clearBlockedMask(blockedItems, user.items, options.exclude);
  }

  // The user's genre, type and people affinities: the share of their history weight on each.
  const affinity = new Map<number, number>();
  const typeAffinity = new Map<number, number>();
  const creditAffinity = new Map<number, number>();
  let mainstream = 0;
  for (let h = 0; h < user.items.length; h++) {
    const item = user.items[h]!;
    const share = Math.max(0, user.weights[h]!) / (totalWeight || 1);
    mainstream += Math.log1p(catalog.popularity[item] ?? 0);
    for (let g = catalog.genrePtr[item]!; g < catalog.genrePtr[item + 1]!; g++) {
      const genre = catalog.genreIndex[g]!;
      affinity.set(genre, (affinity.get(genre) ?? 0) + share);
    }
    const type = catalog.types?.[item];
    if (type !== undefined && !Number.isNaN(type))
      typeAffinity.set(type, (typeAffinity.get(type) ?? 0) + share);
    if (catalog.creditPtr && catalog.creditIndex)
      for (let c = catalog.creditPtr[item]!; c < catalog.creditPtr[item + 1]!; c++) {
        const person = catalog.creditIndex[c]!;
        creditAffinity.set(person, (creditAffinity.get(person) ?? 0) + share);
      }
  }
  mainstream = user.items.length > 0 ? mainstream / user.items.length : Number.NaN;
  // The user's taste in content: the mean of their latest CONTENT_HISTORY items' vectors. (A second one of
  // their latest 5 items cost NDCG@10 0.004 on movielens-100k: 0.179 against 0.183.)
  const taste = catalog.vectorOf ? meanVector(catalog.vectorOf, user, CONTENT_HISTORY) : undefined;

  const items = Uint32Array.from(candidates);
  const evidence = new Int32Array(items.length).fill(-1);
  items.forEach((item, row) => {
    let strongest = -Infinity;
    for (const scores of bySource.values()) {
      if (!scores.reached[item]) continue;
      const vote = scores.best[item]!;
      if (vote > strongest) {
        strongest = vote;
        evidence[row] = scores.bestFrom[item]!;
      }
    }
  });
  const width = RANKING_FEATURE_COUNT;
  const features = new Float32Array(items.length * width).fill(Number.NaN);
  items.forEach((item, row) => {
    const at = row * width;
    COLLABORATIVE_SOURCES.forEach((name, s) => {
      const scores = bySource.get(name);
      if (!scores) return;
      const base = at + s * PER_SOURCE_FEATURES.length;
      if (!scores.reached[item]) {
        features[base + 3] = 0;
        return;
      }
      const score = scores.score[item]!;
      features[base] = score;
      features[base + 1] = scores.top > 0 ? score / scores.top : Number.NaN;
      features[base + 2] = Math.log2(2 + scores.rank[item]!);
      features[base + 3] = scores.support[item]! / Math.max(1, user.items.length);
      features[base + 4] = scores.best[item]!;
    });
    const popularity = catalog.popularity[item] ?? 0;
    features[at + FEATURE.popularity] = Math.log1p(popularity);
    const rank = popularityRankOf(catalog, item);
    features[at + FEATURE['popularity.rank']] = Number.isNaN(rank) ? Number.NaN : Math.log2(2 + rank);
    features[at + FEATURE.trending] = Math.log1p(catalog.trending[item] ?? 0);
    const rating = catalog.rating?.[item];
    if (rating !== undefined) features[at + FEATURE['item.rating']] = rating;
    const firstSeen = catalog.firstSeen[item]!;
    if (Number.isFinite(firstSeen))
      features[at + FEATURE['item.age-days']] = Math.max(0, (user.now - firstSeen) / 86_400_000);
    const year = catalog.releaseYear[item]!;
    if (Number.isFinite(year))
      features[at + FEATURE['item.release-age-years']] = new Date(user.now).getUTCFullYear() - year;
    let affinitySum = 0;
    let affinityMax = 0;
    const genres = catalog.genrePtr[item + 1]! - catalog.genrePtr[item]!;
    for (let g = catalog.genrePtr[item]!; g < catalog.genrePtr[item + 1]!; g++) {
      const value = affinity.get(catalog.genreIndex[g]!) ?? 0;
      affinitySum += value;
      affinityMax = Math.max(affinityMax, value);
    }
    if (genres > 0) {
      features[at + FEATURE['genre.affinity-mean']] = affinitySum / genres;
      features[at + FEATURE['genre.affinity-max']] = affinityMax;
    }
    const type = catalog.types?.[item];
    if (type !== undefined && !Number.isNaN(type))
      features[at + FEATURE['type.affinity']] = typeAffinity.get(type) ?? 0;
    if (catalog.creditPtr && catalog.creditIndex && catalog.creditPtr[item + 1]! > catalog.creditPtr[item]!) {
      let best = 0;
      for (let c = catalog.creditPtr[item]!; c < catalog.creditPtr[item + 1]!; c++)
        best = Math.max(best, creditAffinity.get(catalog.creditIndex[c]!) ?? 0);
      features[at + FEATURE['credits.affinity']] = best;
    }
    features[at + FEATURE['user.history']] = Math.log1p(user.items.length);
    features[at + FEATURE['user.mainstream']] = Math.log1p(popularity) - mainstream;
    if (taste) {
      const similarity = catalog.dotOf
        ? catalog.dotOf(item, taste)
        : dotWithVector(taste, catalog.vectorOf!(item));
      if (similarity !== undefined) features[at + FEATURE['content.similarity']] = similarity;
    }
  });
  return { items, evidence, features };
}

/** History items the user's content vector (the mean of theirs) is made from, latest first. */
export const CONTENT_HISTORY = 50;

/** The dot product of the two, undefined without `vector` or when the lengths differ. */
function dotWithVector(taste: ArrayLike<number>, vector: ArrayLike<number> | undefined): number | undefined {
  if (!vector || vector.length !== taste.length) return undefined;
  let sum = 0;
  for (let d = 0; d < taste.length; d++) sum += taste[d]! * vector[d]!;
  return sum;
}

/** The unit mean of the first `count` history items' vectors, undefined when none has one. */
function meanVector(
  vectorOf: (itemIndex: number) => ArrayLike<number> | undefined,
  user: RankingUser,
  count: number,
): Float64Array | undefined {
  let sum: Float64Array | undefined;
  for (let h = 0; h < Math.min(user.items.length, count); h++) {
    if (!(user.weights[h]! > 0)) continue;
    const vector = vectorOf(user.items[h]!);
    if (!vector) continue;
    sum ??= new Float64Array(vector.length);
    if (vector.length !== sum.length) continue;
    for (let d = 0; d < vector.length; d++) sum[d]! += vector[d]!;
  }
  if (!sum) return undefined;
  let norm = 0;
  for (const value of sum) norm += value * value;
  if (norm === 0) return undefined;
  const scale = 1 / Math.sqrt(norm);
  for (let d = 0; d < sum.length; d++) sum[d]! *= scale;
  return sum;
}

/** An item's position in the popularity ranking, NaN when it has no positive event. */
function popularityRankOf(catalog: RankingCatalog, item: number): number {
  if (catalog.popularityRank) return catalog.popularityRank[item] ?? Number.NaN;
  // Catalogs built before the ranks were stored: a search of the ranking (rare; artefacts carry the ranks).
  for (let p = 0; p < catalog.popularityRanking.length; p++)
    if (catalog.popularityRanking[p] === item) return p;
  return Number.NaN;
}

/** The mask rankingRows blocks items with, kept between users (all zeros between two calls). */
let blockedScratch = new Uint8Array(0);

function blockedMask(
  items: number,
  history: ArrayLike<number>,
  exclude: ReadonlySet<number> | undefined,
): Uint8Array {
  if (blockedScratch.length < items) blockedScratch = new Uint8Array(items);
  for (let h = 0; h < history.length; h++) if (history[h]! < items) blockedScratch[history[h]!] = 1;
  for (const item of exclude ?? []) if (item < items) blockedScratch[item] = 1;
  return blockedScratch;
}

function clearBlockedMask(
  mask: Uint8Array,
  history: ArrayLike<number>,
  exclude: ReadonlySet<number> | undefined,
): void {
  for (let h = 0; h < history.length; h++) if (history[h]! < mask.length) mask[history[h]!] = 0;
  for (const item of exclude ?? []) if (item < mask.length) mask[item] = 0;
}

/** Each source's arrays, kept between users (rankingRows runs to its end synchronously: one user at a time). */
const scratch = new WeakMap<NeighbourTable, SourceScores>();

/**
 * score(j) = Σ_h w_h · sim(h, j), with how many history items vote for j and the strongest single vote, in
 * the source's arrays (those of the previous user reset first).
 */
function sourceScores(
  table: NeighbourTable,
  user: RankingUser,
  blocked: Uint8Array,
  items: number,
): SourceScores {
  let scores = scratch.get(table);
  if (!scores || scores.reached.length < items) {
    scores = {
      touched: [],
      reached: new Uint8Array(items),
      score: new Float64Array(items),
      support: new Uint32Array(items),
      best: new Float64Array(items),
      bestFrom: new Int32Array(items),
      rank: new Int32Array(items),
      top: 0,
    };
    scratch.set(table, scores);
  }
  const { reached, score, support, best, bestFrom } = scores;
  for (const item of scores.touched) {
    reached[item] = 0;
    score[item] = 0;
    support[item] = 0;
  }
  const touched: number[] = [];
  const rows = table.ptr.length - 1;
  for (let h = 0; h < user.items.length; h++) {
    const item = user.items[h]!;
    const weight = user.weights[h]!;
    if (weight <= 0 || item >= rows) continue;
    for (let n = table.ptr[item]!, end = table.ptr[item + 1]!; n < end; n++) {
      const neighbour = table.index[n]!;
      if (neighbour >= items || blocked[neighbour] === 1) continue;
      const similarity = table.score[n]!;
      if (!reached[neighbour]) {
        reached[neighbour] = 1;
        touched.push(neighbour);
        best[neighbour] = similarity;
        bestFrom[neighbour] = item;
      } else if (similarity > best[neighbour]!) {
        best[neighbour] = similarity;
        bestFrom[neighbour] = item;
      }
      score[neighbour]! += weight * similarity;
      support[neighbour]!++;
    }
  }
  scores.touched = touched;
  scores.top = 0;
  return scores;
}
