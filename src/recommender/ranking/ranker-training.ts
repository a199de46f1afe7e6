/**
 * Trains the learned ranker from an event log by temporal self-supervision: for each user, the latest
 * share of their events is hidden, the collaborative models are trained on what remains of everyone's log,
 * the user's candidates are made from their earlier history, and the hidden events they liked label them.
 * A second, earlier cut doubles the queries. A slice of users (by a hash of their id) is held back from
 * the trees: it stops the boosting early and measures the ranker against each source alone, which is what
 * decides whether the ranker may serve. Pure and synchronous, seconds of CPU: the worker runs it.
 */
import { fnv1a } from '../../fnv1a.ts';
import { type Rating, splitLatestPerUser } from '../evaluation.ts';
import { buildInteractionMatrix, type InteractionMatrix, userRow } from '../interactions.ts';
import { EASE_DEFAULTS, ease } from '../strategies/ease.ts';
import { itemKnn } from '../strategies/item-knn.ts';
import { rp3beta } from '../strategies/rp3beta.ts';
import type { ScoredItem } from '../top-k.ts';
import {
  LAMBDA_MART_DEFAULTS,
  type LambdaMartParams,
  type RankingDataset,
  type TreeEnsemble,
  featureImportance,
  meanNdcg,
  scoreRows,
  trainLambdaMart,
} from './lambda-mart.ts';
import {
  COLLABORATIVE_SOURCES,
  type CandidateOptions,
  type CollaborativeSourceName,
  type NeighbourTable,
  RANKING_FEATURE_COUNT,
  RANKING_FEATURES,
  type RankingCatalog,
  type RankingUser,
  rankingRows,
} from './ranking-features.ts';

/** One positive event of the log. */
export interface LoggedInteraction {
  userId: string;
  itemId: string;
  /** Epoch ms. */
  time: number;
  /** An explicit rating on a 0-1 scale, when the event was one. */
  rating?: number | undefined;
  /** Whether the event says the user liked the item (a high rating, a completion...): the label. */
  liked: boolean;
}

/**
 * A list the engine showed a user (a recommendationId's impressions), and which of its items they then
 * played, completed, liked or clicked from it (a positive event carrying that recommendationId).
 */
export interface ShownList {
  userId: string;
  /** When it was shown, epoch ms: the user's features come from their events before it. */
  time: number;
  /** The items in the order shown, and their positions on the page (0 first). */
  itemIds: readonly string[];
  positions: readonly number[];
  /** Per item, whether the user acted on it from this list. */
  clicked: readonly boolean[];
}

export interface CatalogFacts {
  /** Every item, in the order of the dense indices. */
  itemIds: readonly string[];
  /** Genre ids per item index. */
  genres: readonly (readonly number[])[];
  /** Release year per item index, NaN unknown. */
  releaseYears: ArrayLike<number>;
  /** Type id per item index (movie, series...), NaN unknown. */
  types?: ArrayLike<number> | undefined;
  /** People ids per item index: its directors and first cast (CREDITS_PER_ITEM). */
  credits?: readonly (readonly number[])[] | undefined;
  /** Content vectors (unit), `dimension` per item index; an all-zero row is an item without one. */
  vectors?: { dimension: number; data: Float32Array } | undefined;
}

/** People of an item the ranker's credits affinity reads: directors first, then the cast in billing order. */
export const CREDITS_PER_ITEM = 6;

/** Item i's vector in a facts block, undefined for a zero row. */
export function vectorReader(
  vectors: CatalogFacts['vectors'],
): ((itemIndex: number) => Float32Array | undefined) | undefined {
  if (!vectors || vectors.dimension === 0) return undefined;
  const { dimension, data } = vectors;
  return (itemIndex) => {
    const start = itemIndex * dimension;
    if (start + dimension > data.length || (data[start] === 0 && data[start + 1] === 0)) return undefined;
    return data.subarray(start, start + dimension);
  };
}

/** Neighbours kept per item and source. */
export const RANKER_NEIGHBOURS = 100;
/**
 * EASE's rows are dense and its negative weights carry as much as its positive ones: each item keeps its
 * largest weights by magnitude, as many as this budget of entries allows over all items (whole rows up to
 * 2,000 items, 800 a row at EASE's limit of 5,000: 32 MB). On movielens-100k, 400 a row instead of the
 * whole rows cost 0.003 NDCG@10 for EASE alone and 0.004 for the ranker.
 */
const EASE_ENTRIES = 4_000_000;
export const RANKER_CANDIDATES: CandidateOptions = { perSource: 100, popular: 50 };
/**
 * Users whose later events make queries, per cut, at most: beyond it a hash of the id samples them (the
 * trees' cost grows with the rows, about 250 a query). Movielens-100k has about 900 a cut: all of them.
 */
const MAX_QUERIES_PER_CUT = 2_000;
/** One user in HELD_BACK_MODULUS is held back from the trees (20 %). */
const HELD_BACK_MODULUS = 5;
/**
 * Position bias: the chance a user looks at position p is taken as (1 / (p + 1))^POSITION_BIAS_POWER (the
 * shape click models fit on result pages), so a click at position p weighs its inverse, at most
 * MAX_CLICK_WEIGHT (a click at the bottom of a long page must not outweigh the rest of the log).
 */
const POSITION_BIAS_POWER = 0.7;
const MAX_CLICK_WEIGHT = 10;
export const clickWeight = (position: number) =>
  Math.min(MAX_CLICK_WEIGHT, (position + 1) ** POSITION_BIAS_POWER);
/** A week, the half-life of the trending statistic. */
const TRENDING_HALF_LIFE_MS = 7 * 86_400_000;
/** Ratings an item needs before its mean counts half: the shrinkage of item.rating. */
const RATING_PRIOR_COUNT = 10;
/**
 * The start the trees refine: each collaborative source's score relative to its best, summed (a rank
 * fusion of the sources). With few trees the ranker is this fusion, which on its own beats any one source.
 */
export const RANKER_BASE: readonly number[] = RANKING_FEATURES.map((name) =>
  name.endsWith('.relative') ? 3 : 0,
);

export const isHeldBack = (userId: string) => fnv1a(`ranker:${userId}`) % HELD_BACK_MODULUS === 0;

export interface RankingModel {
  /** The feature names, in the order the trees read them. */
  features: readonly string[];
  trees: TreeEnsemble;
}

export interface RankerTrainingReport {
  /**
   * Queries (users' later events, and shown lists with a click) and rows (candidates) the trees learned
   * from, and the held-back queries (the same of the held-back users).
   */
  queries: number;
  rows: number;
  heldBackQueries: number;
  /** Of the queries, the shown lists with a click (impressions joined to later events), and their clicks. */
  impressionQueries: number;
  clicks: number;
  trees: number;
  /**
   * NDCG@10 on the held-back users: the ranker, the fusion it starts from, each source alone, and the ranker
   * in service when there was one.
   */
  heldBack: { ranker: number; fusion: number; previous?: number } & Partial<
    Record<CollaborativeSourceName, number>
  >;
  /**
   * The same comparison for the held-back users on a global cut in time (models from the events before the
   * latest 10 %, labels after): reported, not yet part of the promotion.
   */
  laterQueries: number;
  later?: RankerTrainingReport['heldBack'];
  /** The features the trees lean on most, with their share of the split gain. */
  importance: { feature: string; share: number }[];
  /** The whole training, and the boosting of the trees alone (the rest: models and features). */
  seconds: number;
  treeSeconds: number;
}

export interface RankerTrainingOptions {
  params?: LambdaMartParams;
  /** Temporal cuts per user (1 or 2). */
  cuts?: number;
  /** The ranker in service, measured on the same held-back users when its features are the same. */
  previous?: RankingModel | undefined;
  /** Lists shown to users and what they did with them: queries of their own, weighted for position bias. */
  impressions?: readonly ShownList[] | undefined;
}

/**
 * A catalog for the ranker from a log: the three collaborative models (EASE only up to its size limit),
 * popularity, trending (relative to the latest event), first-seen times and mean ratings.
 */
export function buildRankingCatalog(
  log: readonly LoggedInteraction[],
  facts: CatalogFacts,
): { matrix: InteractionMatrix; catalog: RankingCatalog } {
  const matrix = buildInteractionMatrix(
    log.map((event) => ({ userId: event.userId, itemId: event.itemId, time: event.time })),
    { itemIds: facts.itemIds, duplicates: 'max' },
  );
  const n = matrix.itemIds.length;
  const knn = itemKnn.train(matrix, { neighbours: RANKER_NEIGHBOURS, maxUserItems: 1_000 });
  const rp3 = rp3beta.train(matrix, { neighbours: RANKER_NEIGHBOURS, maxUserItems: 1_000 });
  const sources: RankingCatalog['sources'] = {
    'item-knn': tableOf((i) => itemKnn.similarItems(knn, i, RANKER_NEIGHBOURS), n),
    rp3beta: tableOf((i) => rp3beta.similarItems(rp3, i, RANKER_NEIGHBOURS), n),
  };
  let interacted = 0;
  for (let i = 0; i < n; i++) if (matrix.byItem.ptr[i + 1]! > matrix.byItem.ptr[i]!) interacted++;
  if (interacted <= EASE_DEFAULTS.maxItems)
    sources.ease = easeTable(ease.train(matrix), n, Math.floor(EASE_ENTRIES / Math.max(1, interacted)));

  const popularity = new Float32Array(n);
  const trending = new Float32Array(n);
  const firstSeen = new Float64Array(n).fill(Number.NaN);
  let latest = -Infinity;
  for (const event of log) latest = Math.max(latest, event.time);
  for (let i = 0; i < n; i++) {
    for (let e = matrix.byItem.ptr[i]!; e < matrix.byItem.ptr[i + 1]!; e++) {
      const time = matrix.byItem.time[e]!;
      popularity[i]!++;
      trending[i]! += 0.5 ** ((latest - time) / TRENDING_HALF_LIFE_MS);
      if (!(firstSeen[i]! <= time)) firstSeen[i] = time;
    }
  }
  const popularityRanking = Uint32Array.from(
    Array.from({ length: n }, (_, i) => i)
      .filter((i) => popularity[i]! > 0)
      .sort((a, b) => popularity[b]! - popularity[a]! || a - b),
  );
  const popularityRank = new Float32Array(n).fill(Number.NaN);
  popularityRanking.forEach((item, rank) => (popularityRank[item] = rank));
  const ratingSum = new Float64Array(n);
  const ratingCount = new Float64Array(n);
  let allSum = 0;
  let allCount = 0;
  for (const event of log) {
    if (event.rating === undefined) continue;
    const i = matrix.itemIndex.get(event.itemId)!;
    ratingSum[i]! += event.rating;
    ratingCount[i]!++;
    allSum += event.rating;
    allCount++;
  }
  const prior = allCount > 0 ? allSum / allCount : 0;
  const genrePtr = new Uint32Array(n + 1);
  const genreIndex: number[] = [];
  for (let i = 0; i < n; i++) {
    genreIndex.push(...(facts.genres[i] ?? []));
    genrePtr[i + 1] = genreIndex.length;
  }
  const creditPtr = new Uint32Array(n + 1);
  const creditIndex: number[] = [];
  for (let i = 0; i < n; i++) {
    creditIndex.push(...(facts.credits?.[i] ?? []).slice(0, CREDITS_PER_ITEM));
    creditPtr[i + 1] = creditIndex.length;
  }
  const catalog: RankingCatalog = {
    items: n,
    sources,
    popularity,
    popularityRanking,
    trending,
    firstSeen,
    releaseYear: Float32Array.from({ length: n }, (_, i) => facts.releaseYears[i] ?? Number.NaN),
    genrePtr,
    genreIndex: Uint32Array.from(genreIndex),
    types: Float32Array.from({ length: n }, (_, i) => facts.types?.[i] ?? Number.NaN),
    creditPtr,
    creditIndex: Uint32Array.from(creditIndex),
    popularityRank,
    vectorOf: vectorReader(facts.vectors),
    ...(allCount > 0 && {
      rating: Float32Array.from(ratingSum, (sum, i) =>
        ratingCount[i]! > 0
          ? (sum + RATING_PRIOR_COUNT * prior) / (ratingCount[i]! + RATING_PRIOR_COUNT)
          : Number.NaN,
      ),
    }),
  };
  return { matrix, catalog };
}

/** The user as the ranker sees them in a matrix: every item once, weight 1, now = their latest event. */
export function rankingUserOf(matrix: InteractionMatrix, u: number): RankingUser {
  const row = userRow(matrix, u);
  let now = 0;
  for (const time of row.times) now = Math.max(now, time);
  // Latest first, as serving passes a user's history (content similarity reads the first few).
  const order = Array.from(row.items, (_, at) => at).sort((a, b) => row.times[b]! - row.times[a]! || a - b);
  return {
    items: Uint32Array.from(order, (at) => row.items[at]!),
    weights: new Float32Array(row.items.length).fill(1),
    now,
  };
}

export function trainRanker(
  log: readonly LoggedInteraction[],
  facts: CatalogFacts,
  options: RankerTrainingOptions = {},
): { model: RankingModel; report: RankerTrainingReport } {
  const started = performance.now();
  const cuts = options.cuts ?? 2;
  const liked = new Map<string, LoggedInteraction>();
  const asRatings = log.map((event, at): Rating => {
    liked.set(String(at), event);
    return { userId: event.userId, itemId: String(at), rating: 0, time: event.time };
  });
  // splitLatestPerUser sorts ties by item id: the event's position stands in for it, and maps back.
  const eventOf = (rating: Rating) => liked.get(rating.itemId)!;
  const trainParts: RankingDataset[] = [];
  const heldBackParts: RankingDataset[] = [];
  let impressionPart: RankingDataset | undefined;
  let remaining = asRatings;
  for (let cut = 0; cut < cuts; cut++) {
    const split = splitLatestPerUser(remaining);
    const earlier = split.train.map(eventOf);
    const { matrix, catalog } = buildRankingCatalog(earlier, facts);
    const share = Math.min(1, MAX_QUERIES_PER_CUT / Math.max(1, split.test.size));
    const sampled = [...split.test].filter(
      ([userId]) => share >= 1 || fnv1a(`sample:${userId}`) / 2 ** 32 < share,
    );
    const later = new Map(sampled.map(([userId, list]) => [userId, list.map(eventOf)]));
    trainParts.push(datasetOf(matrix, catalog, later, (userId) => !isHeldBack(userId)));
    // Only the latest cut measures: it is the closest to what serving will face.
    if (cut === 0) {
      heldBackParts.push(datasetOf(matrix, catalog, later, isHeldBack));
      // The shown lists use this cut's catalog (item statistics from before the users' latest events); the
      // held-back users' lists measure too: the ranker must put what they acted on above what they passed.
      const shown = options.impressions ?? [];
      impressionPart = shownListsDataset(log, facts, catalog, shown, (userId) => !isHeldBack(userId));
      trainParts.push(impressionPart);
      heldBackParts.push(shownListsDataset(log, facts, catalog, shown, isHeldBack));
    }
    remaining = split.train;
  }
  const train = concatDatasets(trainParts);
  const heldBack = concatDatasets(heldBackParts);
  const params = options.params ?? LAMBDA_MART_DEFAULTS;
  const boosting = performance.now();
  const result = trainLambdaMart(
    train,
    heldBack.labels.length > 0 ? heldBack : undefined,
    params,
    RANKER_BASE,
  );
  const treeSeconds = (performance.now() - boosting) / 1000;
  const importance = featureImportance(result.model, result.gains);
  const total = importance.reduce((sum, gain) => sum + gain, 0) || 1;
  const previous =
    options.previous?.trees && sameFeatures(options.previous.features) ? options.previous : undefined;
  const compare = (data: RankingDataset) => compareRankers(data, result.model, previous, params.k);
  // The held-back users again, on a global cut in time: models from the events before it, labels after.
  const later = laterHeldBackDataset(log, facts);
  return {
    model: { features: [...RANKING_FEATURES], trees: result.model },
    report: {
      queries: train.queryOffsets.length - 1,
      rows: train.labels.length,
      heldBackQueries: heldBack.queryOffsets.length - 1,
      impressionQueries: impressionPart ? impressionPart.queryOffsets.length - 1 : 0,
      clicks: impressionPart ? impressionPart.labels.reduce((sum, label) => sum + label, 0) : 0,
      trees: result.model.roots.length,
      heldBack: compare(heldBack),
      laterQueries: later.queryOffsets.length - 1,
      ...(later.queryOffsets.length > 1 && { later: compare(later) }),
      importance: [...importance.entries()]
        .filter(([, gain]) => gain > 0)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([f, gain]) => ({ feature: RANKING_FEATURES[f]!, share: gain / total })),
      seconds: (performance.now() - started) / 1000,
      treeSeconds,
    },
  };
}

export function sameFeatures(features: unknown): boolean {
  return (
    Array.isArray(features) &&
    features.length === RANKING_FEATURES.length &&
    features.every((name, at) => name === RANKING_FEATURES[at])
  );
}

/** NDCG@k on a dataset of the ranker, the fusion it starts from, each source alone and the previous ranker. */
function compareRankers(
  data: RankingDataset,
  trees: TreeEnsemble,
  previous: RankingModel | undefined,
  k: number,
): RankerTrainingReport['heldBack'] {
  const compared: RankerTrainingReport['heldBack'] = {
    ranker: meanNdcg(data, scoreRows(trees, data.features, RANKING_FEATURE_COUNT), k),
    fusion: meanNdcg(data, scoreRows({ ...trees, roots: [] }, data.features, RANKING_FEATURE_COUNT), k),
  };
  for (const name of COLLABORATIVE_SOURCES) {
    const column = RANKING_FEATURES.indexOf(`${name}.score`);
    const scores = Float64Array.from({ length: data.labels.length }, (_, r) => {
      const value = data.features[r * RANKING_FEATURE_COUNT + column]!;
      return Number.isNaN(value) ? -Infinity : value;
    });
    if (scores.some((score) => score > -Infinity)) compared[name] = meanNdcg(data, scores, k);
  }
  if (previous)
    compared.previous = meanNdcg(data, scoreRows(previous.trees, data.features, RANKING_FEATURE_COUNT), k);
  return compared;
}

/**
 * Share of the log after the global cut of the later check: the held-back users' events after it are the
 * labels, the models come from everything before it. Per-user cuts (what the trees learn from) predict a
 * user's next items whenever they came; this asks whether the ranker also predicts the catalog's next weeks.
 */
const LATER_SHARE = 0.1;

function laterHeldBackDataset(log: readonly LoggedInteraction[], facts: CatalogFacts): RankingDataset {
  const times = log.map((event) => event.time).sort((a, b) => a - b);
  const cut = times[Math.floor(times.length * (1 - LATER_SHARE))];
  const before = log.filter((event) => cut === undefined || event.time < cut);
  const known = new Set(before.map((event) => event.userId));
  const later = new Map<string, LoggedInteraction[]>();
  for (const event of log)
    if (cut !== undefined && event.time >= cut && isHeldBack(event.userId) && known.has(event.userId))
      later.set(event.userId, [...(later.get(event.userId) ?? []), event]);
  // Too few to compare (movielens-100k has 2): not worth the models a catalog before the cut needs.
  if (later.size < MIN_HELD_BACK_QUERIES) return emptyDataset();
  const { matrix, catalog } = buildRankingCatalog(before, facts);
  return datasetOf(matrix, catalog, later, isHeldBack);
}

function emptyDataset(): RankingDataset {
  return {
    features: new Float32Array(0),
    width: RANKING_FEATURE_COUNT,
    labels: new Float32Array(0),
    queryOffsets: Uint32Array.of(0),
  };
}

/** Held-back users a comparison needs before it may promote a ranker. */
const MIN_HELD_BACK_QUERIES = 20;

/**
 * Whether a new ranker serves: only when, on the users held back from its trees, it ranks better than the
 * fusion it starts from, than each collaborative source alone (the blend leads with one of them), and than
 * the ranker in service. Otherwise the ranker in service (or the blend) stays, and the verdict says why.
 */
export function promotionVerdict(report: RankerTrainingReport): { serving: boolean; verdict: string } {
  const decided = verdictOnHeldBack(report);
  return { ...decided, verdict: `${decided.verdict}${laterNote(report)}` };
}

/** What the global cut in time says, for the verdict (reported, not yet deciding). */
function laterNote(report: RankerTrainingReport): string {
  const later = report.later;
  if (!later || report.laterQueries === 0) return '';
  const [name, value] = bestAlternative(later);
  return `; on a global cut in time (${report.laterQueries} held-back users): ${later.ranker.toFixed(3)} against ${value.toFixed(3)} for ${name}`;
}

function bestAlternative(compared: RankerTrainingReport['heldBack']): [string, number] {
  const { ranker: _ranker, ...others } = compared;
  const [name, value] = Object.entries(others)
    .filter((entry): entry is [string, number] => entry[1] !== undefined)
    .sort((a, b) => b[1] - a[1])[0] ?? ['none', 0];
  return [name === 'previous' ? 'the ranker in service' : name, value];
}

function verdictOnHeldBack(report: RankerTrainingReport): { serving: boolean; verdict: string } {
  const { ranker } = report.heldBack;
  const figure = (value: number) => value.toFixed(3);
  if (report.heldBackQueries < MIN_HELD_BACK_QUERIES)
    return {
      serving: false,
      verdict: `not serving: ${report.heldBackQueries} held-back queries (users with a later liked event, lists with a click), fewer than the ${MIN_HELD_BACK_QUERIES} a comparison needs`,
    };
  const [name, bestValue] = bestAlternative(report.heldBack);
  if (ranker > bestValue)
    return {
      serving: true,
      verdict: `serving: NDCG@10 ${figure(ranker)} on ${report.heldBackQueries} held-back queries, against ${figure(bestValue)} for ${name}, the best alternative`,
    };
  return {
    serving: false,
    verdict: `not serving: NDCG@10 ${figure(ranker)} on ${report.heldBackQueries} held-back queries, not above ${figure(bestValue)} for ${name}`,
  };
}

/** One query per user with a liked later event among their candidates; labels 1 for liked, else 0. */
function datasetOf(
  matrix: InteractionMatrix,
  catalog: RankingCatalog,
  later: ReadonlyMap<string, readonly LoggedInteraction[]>,
  include: (userId: string) => boolean,
): RankingDataset {
  const blocks: Float32Array[] = [];
  const labels: number[] = [];
  const offsets = [0];
  for (const [userId, events] of later) {
    if (!include(userId)) continue;
    const u = matrix.userIndex.get(userId);
    if (u === undefined) continue;
    const relevant = new Set<number>();
    for (const event of events) {
      const i = matrix.itemIndex.get(event.itemId);
      if (event.liked && i !== undefined) relevant.add(i);
    }
    if (relevant.size === 0) continue;
    const rows = rankingRows(catalog, rankingUserOf(matrix, u), RANKER_CANDIDATES);
    if (!rows.items.some((i) => relevant.has(i))) continue;
    blocks.push(rows.features);
    for (const i of rows.items) labels.push(relevant.has(i) ? 1 : 0);
    offsets.push(labels.length);
  }
  return packDataset(blocks, labels, offsets);
}

/** One dataset from the queries' feature blocks, their labels, offsets and (optional) row weights. */
function packDataset(
  blocks: readonly Float32Array[],
  labels: readonly number[],
  offsets: readonly number[],
  weights?: readonly number[],
): RankingDataset {
  const features = new Float32Array(labels.length * RANKING_FEATURE_COUNT);
  let at = 0;
  for (const block of blocks) {
    features.set(block, at);
    at += block.length;
  }
  return {
    features,
    width: RANKING_FEATURE_COUNT,
    labels: Float32Array.from(labels),
    queryOffsets: Uint32Array.from(offsets),
    ...(weights && { weights: Float32Array.from(weights) }),
  };
}

/**
 * One query per shown list with a click, of the users `include` lets in: its rows are the items shown
 * (those in the catalog and not already in the user's history), labelled 1 when acted on, the clicks
 * weighted by the inverse of their position's examination chance (clickWeight). The user's features come
 * from their events before the list was shown.
 */
export function shownListsDataset(
  log: readonly LoggedInteraction[],
  facts: CatalogFacts,
  catalog: RankingCatalog,
  lists: readonly ShownList[],
  include: (userId: string) => boolean,
): RankingDataset {
  const itemIndex = new Map(facts.itemIds.map((itemId, at) => [itemId, at]));
  const byUser = new Map<string, LoggedInteraction[]>();
  for (const list of lists) if (include(list.userId)) byUser.set(list.userId, []);
  for (const event of log) byUser.get(event.userId)?.push(event);
  const blocks: Float32Array[] = [];
  const labels: number[] = [];
  const weights: number[] = [];
  const offsets = [0];
  for (const list of lists) {
    const events = byUser.get(list.userId);
    if (!events || !list.clicked.some(Boolean)) continue;
    const history = new Set<number>();
    let now = -Infinity;
    // Latest first, as serving passes a user's history.
    for (const event of [...events].sort((a, b) => b.time - a.time))
      if (event.time < list.time) {
        const at = itemIndex.get(event.itemId);
        if (at !== undefined) history.add(at);
        now = Math.max(now, event.time);
      }
    const shown = new Map<number, { clicked: boolean; position: number }>();
    list.itemIds.forEach((itemId, at) => {
      const index = itemIndex.get(itemId);
      if (index !== undefined && !shown.has(index))
        shown.set(index, { clicked: list.clicked[at] === true, position: list.positions[at] ?? at });
    });
    const items = [...history];
    const rows = rankingRows(
      catalog,
      { items, weights: new Float32Array(items.length).fill(1), now: Number.isFinite(now) ? now : list.time },
      { perSource: 0, popular: 0, extra: shown.keys() },
    );
    if (!rows.items.some((i) => shown.get(i)?.clicked)) continue;
    blocks.push(rows.features);
    for (const i of rows.items) {
      const { clicked, position } = shown.get(i)!;
      labels.push(clicked ? 1 : 0);
      weights.push(clicked ? clickWeight(position) : 1);
    }
    offsets.push(labels.length);
  }
  return packDataset(blocks, labels, offsets, weights);
}

function concatDatasets(parts: readonly RankingDataset[]): RankingDataset {
  const rows = parts.reduce((sum, part) => sum + part.labels.length, 0);
  const features = new Float32Array(rows * RANKING_FEATURE_COUNT);
  const labels = new Float32Array(rows);
  const weighted = parts.some((part) => part.weights);
  const weights = weighted ? new Float32Array(rows).fill(1) : undefined;
  const offsets = [0];
  let at = 0;
  for (const part of parts) {
    features.set(part.features, at * RANKING_FEATURE_COUNT);
    labels.set(part.labels, at);
    if (weights && part.weights) weights.set(part.weights, at);
    for (let q = 1; q < part.queryOffsets.length; q++) offsets.push(at + part.queryOffsets[q]!);
    at += part.labels.length;
  }
  return {
    features,
    width: RANKING_FEATURE_COUNT,
    labels,
    queryOffsets: Uint32Array.from(offsets),
    ...(weights && { weights }),
  };
}

function tableOf(similar: (i: number) => ScoredItem[], items: number): NeighbourTable {
  const ptr = new Uint32Array(items + 1);
  const index: number[] = [];
  const score: number[] = [];
  for (let i = 0; i < items; i++) {
    for (const entry of similar(i)) {
      index.push(entry.itemIndex);
      score.push(entry.score);
    }
    ptr[i + 1] = index.length;
  }
  return { ptr, index: Uint32Array.from(index), score: Float32Array.from(score) };
}

/** Each item's `k` EASE weights of largest magnitude, negative ones included. */
function easeTable(model: ReturnType<typeof ease.train>, items: number, k: number): NeighbourTable {
  const m = model.items.length;
  return tableOf((i) => {
    const a = model.position[i] ?? -1;
    if (a < 0) return [];
    const row: ScoredItem[] = [];
    for (let b = 0; b < m; b++)
      if (b !== a) row.push({ itemIndex: model.items[b]!, score: model.weights[a * m + b]! });
    return row.sort((x, y) => Math.abs(y.score) - Math.abs(x.score) || x.itemIndex - y.itemIndex).slice(0, k);
  }, items);
}
