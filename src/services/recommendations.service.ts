import { randomUUID } from 'node:crypto';
import { scaleScores } from '../recommender/score-scale.ts';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { CandidateSource, RankerChoice, RecommenderConfig, SourceWeights } from '../config.ts';
import type { Database, StoredProfile } from '../db/database.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { decodeCursor, encodeCursor } from '../pagination.ts';
import {
  type BlendedCandidate,
  type SourceCandidates,
  blendCandidates,
  byScoreThenId,
} from '../recommender/blend.ts';
import { hasFilters, type ItemFilters } from '../recommender/item-filters.ts';
import { type RankableCandidate, rerank } from '../recommender/rerank.ts';
import {
  type CandidateStore,
  type Interest,
  type StoreQuery,
  type TitleOf,
  coViewingDetail,
  collaborativeCandidates,
  editorialCandidates,
  freshCandidates,
  popularCandidates,
  trendingCandidates,
  vectorCandidates,
} from '../recommender/sources.ts';
import {
  findBoostedItems,
  findFreshItems,
  findItemSummaries,
  findNearestItems,
  findItemRows,
  findRankableCandidates,
  findTopItemsByStat,
  type RankableCandidateRow,
  insertImpressions,
} from '../repositories/candidates.repository.ts';
import { findItemNeighbours } from '../repositories/model-data.repository.ts';
import { findUserProfileAndConsumed } from '../repositories/user-profiles.repository.ts';
import type { RecommendationPage, RecommendedItem } from '../schemas/recommendations.schema.ts';
import { toItem } from './items.service.ts';
import type { LoadedRanker, ModelSnapshot } from './model-snapshot.service.ts';
import type { TopLists } from './top-lists.ts';
import type { HeldCatalog, ItemCatalogService } from './item-catalog.service.ts';
import { availableAt } from '../recommender/item-catalog.ts';
import { scoreRows } from '../recommender/ranking/lambda-mart.ts';
import { RANKER_CANDIDATES } from '../recommender/ranking/ranker-training.ts';
import { RANKING_FEATURE_COUNT, rankingRows } from '../recommender/ranking/ranking-features.ts';
import { strongestSignals } from '../recommender/ranking/ranking-signals.ts';
import type { PageCache } from './page-cache.ts';
import { fnv1a } from '../fnv1a.ts';

export interface RecommenderDeps {
  db: Kysely<Database>;
  config: RecommenderConfig;
  /** The embedding model of this database: profile vectors made in another are ignored. */
  embeddingModel: string;
  pageCache: PageCache;
  /** The global popular and trending lists this process shares between pages (read once a second). */
  topLists?: TopLists | undefined;
  /** Every item's catalog entry held in this process: unfiltered pages check their candidates there. */
  catalog?: ItemCatalogService | undefined;
  /** The model held in memory; without it (or for a part it does not hold) pages read the database. */
  model?: ModelSnapshot | undefined;
}

/** How deep a ranked list goes: `cursor` pages end there. */
export const MAX_RANKED = 200;
/** Candidates each source is asked for. */
const PER_SOURCE = 100;
/** The learned ranker's best rows that get their signals (strongestSignals): more than a page's window. */
const SIGNALLED_ROWS = 100;
/** The best-ranked candidates a new item must be as close to the user's taste as, to take a new-item slot. */
const NEW_ITEM_REFERENCE = 10;
/** How much more content similarity counts for an item with no interactions yet (cold start). */
const COLD_ITEM_CONTENT_BOOST = 4;
/** Consumed items looked up per user for exclusion (most recent first). */
const MAX_CONSUMED = 2_000;
/** History items whose genres and titles a page looks at (heaviest first). */
const MAX_HISTORY = 50;
/** Items the collaborative source scores from (strongest first): cost is this × neighbours per item. */
const MAX_INTERACTIONS = 200;

export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
  diversity?: number | undefined;
  exclude?: readonly string[] | undefined;
  filters: ItemFilters;
  /**
   * False when the page is not shown as it is but used as candidates by another service (chat): its
   * impressions are then not recorded, and it is cached apart from the pages that are.
   */
  recordImpressions?: boolean | undefined;
}

export interface UserRecommendationRequest extends PageRequest {
  userId: string;
  variant?: string | undefined;
}

export interface SessionRecommendationRequest extends PageRequest {
  recentItemIds: readonly string[];
  userId?: string | undefined;
}

export interface PageAnswer {
  /** The page (parsed from `json` on first read when it came from the cache). */
  readonly page: RecommendationPage;
  /** The page as JSON text (or its UTF-8 bytes), ready to send as it is. */
  readonly json: string | Buffer;
  readonly cache: 'hit' | 'miss';
}

const cursorShape = { o: z.number().int().min(0).max(MAX_RANKED), r: z.string().max(64) };

/** "Top picks for you": the user's profile through every candidate source, blended, filtered, diversified. */
export async function recommendForUser(
  deps: RecommenderDeps,
  request: UserRecommendationRequest,
): Promise<PageAnswer> {
  const variant = chooseVariant(deps.config, request.userId, request.variant);
  const settings = variantSettings(deps.config, variant);
  return servePage(deps, {
    scope: 'user',
    userId: request.userId,
    request,
    variant,
    endpoint: 'user',
    params: { variant, ...pageParams(request) },
    compute: (window, recommendationId) =>
      rankForUser(deps, request.userId, request, settings, window, recommendationId, variant),
  });
}

/** Anonymous or session-based recommendations: the items just viewed, and the user's profile if known. */
export async function recommendForSession(
  deps: RecommenderDeps,
  request: SessionRecommendationRequest,
): Promise<PageAnswer> {
  const variant =
    request.userId === undefined ? 'default' : chooseVariant(deps.config, request.userId, undefined);
  const settings = variantSettings(deps.config, variant);
  return servePage(deps, {
    scope: 'session',
    userId: request.userId,
    request,
    variant,
    endpoint: 'session',
    params: { variant, recent: request.recentItemIds, ...pageParams(request) },
    compute: async (window) => {
      const recent = [...new Set(request.recentItemIds)].slice(0, 20);
      const [user, held] = await Promise.all([
        request.userId === undefined ? undefined : loadUser(deps, request.userId),
        heldState(deps),
      ]);
      const store = candidateStore(deps, held);
      const exclude = [...new Set([...recent, ...(request.exclude ?? []), ...(user?.consumed ?? [])])];
      const [summaries, vectors] = await Promise.all([
        itemSummaries(deps, held.catalog, [...recent, ...(user?.evidenceIds ?? [])]),
        deps.model?.vectorsOf(recent),
      ]);
      const titleOf: TitleOf = (id) => summaries.get(id)?.title;
      const query: StoreQuery = { limit: PER_SOURCE, filters: request.filters, excludeIds: exclude };
      const sessionHistory = recent.map((itemId, rank) => ({ itemId, weight: 1 / (1 + 0.3 * rank) }));
      const sessionVector = meanVector(
        recent.map((id) => (vectors ? vectors.get(id) : summaries.get(id)?.embedding)),
      );
      const lists = await gatherSources(settings.weights, [
        ['session', () => collaborativeCandidates(store, sessionHistory, query, titleOf, 'session')],
        [
          'session',
          () =>
            sessionVector
              ? vectorCandidates(
                  store,
                  [{ vector: sessionVector, weight: 1, itemIds: recent.slice(0, 3) }],
                  query,
                  titleOf,
                  'session',
                )
              : emptyList('session'),
        ],
        ['trending', () => trendingCandidates(store, { ...query, limit: 50 })],
        ['editorial', () => editorialCandidates(store, { ...query, limit: 20 })],
        ...(user ? userSources(store, user, query, titleOf) : []),
      ]);
      return rankBlended(deps, blendCandidates(lists, settings.weights), request, {
        window,
        diversity: request.diversity ?? settings.diversity,
        seed: recent.join(','),
        negative: user?.negative,
        catalog: held.catalog,
      });
    },
  });
}

/** "More like this": content similarity blended with the collaborative neighbours of one item. */
export async function recommendSimilar(
  deps: RecommenderDeps,
  itemId: string,
  request: PageRequest,
): Promise<PageAnswer> {
  const held = await heldState(deps);
  const seed = (await itemSummaries(deps, held.catalog, [itemId])).get(itemId);
  if (!seed) throw new NotFoundError(`No item "${itemId}"`);
  return servePage(deps, {
    scope: `similar:${itemId}`,
    userId: undefined,
    request,
    variant: 'default',
    endpoint: 'similar',
    ttlSeconds: deps.config.cacheSeconds.similar,
    params: pageParams(request),
    compute: async (window) => {
      const store = candidateStore(deps, held);
      const exclude = [itemId, ...(request.exclude ?? [])];
      const query: StoreQuery = { limit: PER_SOURCE, filters: request.filters, excludeIds: exclude };
      const titleOf: TitleOf = (id) => (id === itemId ? seed.title : undefined);
      const seedVector = deps.model ? (await deps.model.vectorsOf([itemId])).get(itemId) : seed.embedding;
      const lists = await Promise.all([
        seedVector
          ? vectorCandidates(store, [{ vector: seedVector, weight: 1, itemIds: [itemId] }], query, titleOf)
          : emptyList('vector'),
        collaborativeCandidates(store, [{ itemId, weight: 1 }], query, titleOf),
      ]);
      return rankBlended(deps, blendCandidates(lists, { vector: 1, collaborative: 1 }), request, {
        window,
        diversity: request.diversity ?? 0,
        seed: itemId,
        explorationSlots: 0,
        catalog: held.catalog,
      });
    },
  });
}

interface LoadedUser {
  profile: StoredProfile | undefined;
  interests: Interest[];
  negative: Float32Array | undefined;
  consumed: string[];
  history: { itemId: string; weight: number }[];
  /** What the collaborative source scores from. */
  interactions: { itemId: string; weight: number }[];
  /** Items whose titles the reasons may cite. */
  evidenceIds: string[];
  /** When the user's latest event happened (epoch ms), undefined without one. */
  lastEventAt: number | undefined;
}

async function loadUser(deps: RecommenderDeps, userId: string): Promise<LoadedUser> {
  const { profile: row, consumed } = await findUserProfileAndConsumed(
    deps.db,
    userId,
    deps.config.consumedEventTypes,
    MAX_CONSUMED,
  );
  const profile = row?.profile;
  const vectorsUsable = row !== undefined && row.embedding_model === deps.embeddingModel;
  const interests: Interest[] = vectorsUsable
    ? (profile?.interests ?? []).map((interest) => ({
        vector: Float32Array.from(interest.vector),
        weight: interest.weight,
        itemIds: interest.itemIds,
      }))
    : [];
  const negative =
    vectorsUsable && profile?.negative ? Float32Array.from(profile.negative.vector) : undefined;
  const history = (profile?.history ?? []).slice(0, MAX_HISTORY);
  const interactions = (profile?.interactions ?? profile?.history ?? []).slice(0, MAX_INTERACTIONS);
  const evidenceIds = [
    ...new Set([
      ...history.map((entry) => entry.itemId),
      ...interactions.map((entry) => entry.itemId),
      ...interests.flatMap((i) => i.itemIds),
      ...(profile?.negative?.itemIds ?? []),
    ]),
  ];
  const lastEventAt = row?.last_event_at ? new Date(row.last_event_at).getTime() : undefined;
  return { profile, interests, negative, consumed, history, interactions, evidenceIds, lastEventAt };
}

type SourceTask = readonly [CandidateSource, () => Promise<SourceCandidates>];

/** Runs the sources that weigh something, in parallel: a source weighted 0 costs no query. */
async function gatherSources(
  weights: SourceWeights,
  tasks: readonly SourceTask[],
): Promise<SourceCandidates[]> {
  return Promise.all(tasks.filter(([source]) => (weights[source] ?? 0) > 0).map(([, run]) => run()));
}

function userSources(
  store: CandidateStore,
  user: LoadedUser,
  query: StoreQuery,
  titleOf: TitleOf,
): SourceTask[] {
  return [
    ['collaborative', () => collaborativeCandidates(store, user.interactions, query, titleOf)],
    ['vector', () => vectorCandidates(store, user.interests, query, titleOf)],
    ['fresh', () => freshCandidates(store, user.interests[0], { ...query, limit: 30 }, new Date())],
  ];
}

async function rankForUser(
  deps: RecommenderDeps,
  userId: string,
  request: PageRequest,
  settings: VariantSettings,
  window: number,
  recommendationId: string,
  variant: string,
): Promise<RankedList> {
  const [user, held] = await Promise.all([loadUser(deps, userId), heldState(deps)]);
  const store = candidateStore(deps, held);
  const exclude = [...new Set([...user.consumed, ...(request.exclude ?? [])])];
  const summaries = await itemSummaries(deps, held.catalog, user.evidenceIds);
  const titleOf: TitleOf = (id) => summaries.get(id)?.title;
  const query: StoreQuery = { limit: PER_SOURCE, filters: request.filters, excludeIds: exclude };
  const known = user.interactions.length > 0 || user.interests.length > 0;
  // A new user's page is the trending list, diversified (so not everyone gets the same top 10 in the same order).
  const weights: SourceWeights = known
    ? settings.weights
    : { ...settings.weights, trending: 1, popular: 0.5, fresh: 0.3 };
  const lists = await gatherSources(weights, [
    ...(known
      ? userSources(store, user, query, titleOf)
      : [['fresh', () => freshCandidates(store, undefined, { ...query, limit: 30 }, new Date())] as const]),
    ['trending', () => trendingCandidates(store, known ? { ...query, limit: 50 } : query)],
    ['popular', () => popularCandidates(store, known ? { ...query, limit: 50 } : query)],
    ['editorial', () => editorialCandidates(store, { ...query, limit: 20 })],
  ]);
  const dislikedGenres = dislikedGenresOf(
    user.history,
    user.profile?.negative?.itemIds ?? [],
    (id) => summaries.get(id)?.genres,
  );
  const ranker = settings.ranker === 'learned' && known ? deps.model?.ranker : undefined;
  const blended = blendCandidates(lists, weights);
  // The ranker and the re-ranking read the same vectors: each decoded once a page.
  const vectors = new Map<string, Float32Array | undefined>();
  const candidates = ranker
    ? learnedCandidates(
        ranker,
        {
          vector: (itemId) => {
            if (vectors.has(itemId)) return vectors.get(itemId);
            const vector = deps.model?.heldVector(itemId);
            vectors.set(itemId, vector);
            return vector;
          },
          dot: (itemId, query) => deps.model?.heldDot(itemId, query),
        },
        user,
        new Set(exclude),
        blended,
        titleOf,
      )
    : blended;
  return rankBlended(deps, candidates, request, {
    window,
    diversity: request.diversity ?? (known ? settings.diversity : Math.max(settings.diversity, 0.3)),
    seed: `${userId}:${variant}`,
    negative: user.negative,
    dislikedGenres,
    taste: mainInterest(user.interests)?.vector,
    catalog: held.catalog,
    vectors,
  });
}

interface RankedList {
  /** The ranked window, without the items' rows: only the page's are read (servePage). */
  items: Omit<RecommendedItem, 'item'>[];
}

interface RankOptions {
  window: number;
  diversity: number;
  seed: string;
  negative?: Float32Array | undefined;
  dislikedGenres?: ReadonlySet<string> | undefined;
  explorationSlots?: number | undefined;
  newItemSlots?: number | undefined;
  /** The user's main interest (unit vector): new items as close to it as the page may take new-item slots. */
  taste?: Float32Array | undefined;
  /** The catalog held in memory, when it is: candidates are checked there (unfiltered pages). */
  catalog?: HeldCatalog | undefined;
  /** Vectors this page already read from the model (undefined: the model holds none for the item). */
  vectors?: ReadonlyMap<string, Float32Array | undefined> | undefined;
}

/**
 * The learned ranker's order: its candidates (the collaborative sources' and the most popular, from the
 * catalog it was trained with, plus every item the other sources proposed) scored by its trees, the best
 * at 1. An item the ranker's catalog does not hold (added since its training) keeps its blended score
 * relative to the blend's best, so a new release close to the user's taste still competes.
 */
function learnedCandidates(
  ranker: LoadedRanker,
  held: {
    vector: (itemId: string) => Float32Array | undefined;
    dot: (itemId: string, query: ArrayLike<number>) => number | undefined;
  },
  user: LoadedUser,
  exclude: ReadonlySet<string>,
  blended: readonly BlendedCandidate[],
  titleOf: TitleOf,
): BlendedCandidate[] {
  const { itemIndex, artifact, model } = ranker;
  // As in training: every item the user engaged with, once, weight 1, latest first (the consumed items,
  // most recent first, reach further back than the profile's strongest 200 interactions).
  const history = new Set<number>();
  for (const itemId of user.consumed) {
    const at = itemIndex.get(itemId);
    if (at !== undefined) history.add(at);
  }
  for (const { itemId, weight } of user.interactions) {
    const at = itemIndex.get(itemId);
    if (at !== undefined && weight > 0) history.add(at);
  }
  const items = [...history];
  const excluded = new Set<number>();
  for (const itemId of exclude) {
    const at = itemIndex.get(itemId);
    if (at !== undefined) excluded.add(at);
  }
  const extra: number[] = [];
  for (const candidate of blended) {
    const at = itemIndex.get(candidate.itemId);
    if (at !== undefined) extra.push(at);
  }
  // Ages are counted from the user's latest event, as in training (where it is the cut): from today, an
  // imported history would make every item decades old.
  // Content similarity reads the vectors this process holds (none held: the feature is missing).
  const catalog = {
    ...artifact.catalog,
    vectorOf: (at: number) => held.vector(artifact.itemIds[at]!),
    dotOf: (at: number, query: ArrayLike<number>) => held.dot(artifact.itemIds[at]!, query),
  };
  const rows = rankingRows(
    catalog,
    { items, weights: items.map(() => 1), now: user.lastEventAt ?? Date.now() },
    { ...RANKER_CANDIDATES, exclude: excluded, extra },
  );
  const scores = scoreRows(model.trees, rows.features, RANKING_FEATURE_COUNT);
  let high = -Infinity;
  for (const score of scores) high = Math.max(high, score);
  const byItem = new Map(blended.map((candidate) => [candidate.itemId, candidate]));
  // What set the strongest candidates apart, for the explainer (a page comes from these few).
  const strongest = [...scores.keys()].sort((a, b) => scores[b]! - scores[a]!).slice(0, SIGNALLED_ROWS);
  const signals = new Map(
    strongestSignals(model.trees, rows.features, strongest).map((found, at) => [strongest[at]!, found]),
  );
  const ranked: BlendedCandidate[] = [];
  rows.items.forEach((at, row) => {
    const itemId = artifact.itemIds[at]!;
    // LambdaRank scores are pairwise log-odds (P(a above b) = σ(s_a − s_b)): exp(s − best) keeps that
    // meaning on a 0-1 scale, so diversity trades against a relevance gap the ranker actually sees.
    const score = Math.exp(scores[row]! - high);
    const proposed = byItem.get(itemId);
    byItem.delete(itemId);
    const evidence = rows.evidence[row]! >= 0 ? [artifact.itemIds[rows.evidence[row]!]!] : [];
    const signalled = signals.get(row);
    ranked.push({
      itemId,
      score,
      shares: {},
      ...(signalled && signalled.length > 0 && { signals: signalled }),
      reasons:
        proposed && proposed.reasons.length > 0
          ? proposed.reasons
          : [
              {
                source: 'collaborative',
                detail: coViewingDetail(evidence, titleOf),
                evidenceItemIds: evidence,
              },
            ],
    });
  });
  const best = blended[0]?.score ?? 0;
  for (const candidate of byItem.values())
    if (!exclude.has(candidate.itemId) && best > 0)
      ranked.push({
        ...candidate,
        score: candidate.score / best,
        shares: scaled(candidate.shares, 1 / best),
      });
  return ranked.sort(byScoreThenId);
}

function mainInterest(interests: readonly Interest[]): Interest | undefined {
  let main: Interest | undefined;
  for (const interest of interests) if (!main || interest.weight > main.weight) main = interest;
  return main;
}

function scaled<K extends string>(
  shares: Partial<Record<K, number>>,
  factor: number,
): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {};
  for (const key of Object.keys(shares) as K[]) out[key] = shares[key]! * factor;
  return out;
}

/**
 * Load the survivors of the filters with their embeddings, penalise what the user disliked, then MMR with
 * caps and exploration down to `window` items.
 */
async function rankBlended(
  deps: RecommenderDeps,
  candidates: readonly BlendedCandidate[],
  request: PageRequest,
  options: RankOptions,
): Promise<RankedList> {
  const blended = candidates.slice(0, 600);
  const ids = blended.map((candidate) => candidate.itemId);
  const rows =
    options.catalog && deps.model && !hasFilters(request.filters)
      ? await rankableFromCatalog(deps, options.catalog, ids)
      : await findRankableCandidates(deps.db, ids, request.filters, { withEmbeddings: !deps.model });
  const embeddingOf = await candidateVectors(deps.model, rows, options.vectors);
  const byId = new Map(rows.map((row) => [row.id, row]));
  const rankable: (RankableCandidate & { isNew?: boolean })[] = [];
  for (const candidate of blended) {
    const found = byId.get(candidate.itemId);
    if (!found) continue;
    const { itemId } = candidate;
    const score = adjustedScore(candidate, found, () => embeddingOf(itemId), options);
    if (score === undefined) continue;
    rankable.push({
      itemId,
      score,
      reasons: candidate.reasons,
      ...(candidate.signals && { signals: candidate.signals }),
      genres: found.genres,
      seriesId: found.seriesId,
      // Read when the re-ranking compares the candidate (with diversity 0, never).
      get embedding() {
        return embeddingOf(itemId);
      },
      ...(found.isNew && { isNew: true }),
    });
  }
  rankable.sort(byScoreThenId);
  if (options.taste) markCloseNewItems(rankable, options.taste);
  const ranked = rerank(rankable, {
    size: options.window,
    diversity: options.diversity,
    maxPerSeries: deps.config.maxPerSeries,
    maxPerGenre: deps.config.maxPerGenre,
    explorationSlots: options.explorationSlots ?? deps.config.explorationSlots,
    seed: options.seed,
    newItemSlots: options.newItemSlots ?? deps.config.newItemSlots,
  });
  return {
    items: scaleScores(
      ranked.map((candidate) => ({
        itemId: candidate.itemId,
        score: candidate.score,
        reasons: candidate.reasons,
        ...(candidate.signals && { signals: candidate.signals }),
      })),
    ),
  };
}

/**
 * Each candidate's vector, decoded once a page: from the vectors the page already read, else from the model
 * this process holds, when it holds every item's (read on first use: the re-ranking compares a few dozen
 * candidates, not all); else read now from the model's cache or the database, or as the rows brought them.
 */
async function candidateVectors(
  model: ModelSnapshot | undefined,
  rows: readonly RankableCandidateRow[],
  known: ReadonlyMap<string, Float32Array | undefined> | undefined,
): Promise<(itemId: string) => Float32Array | undefined> {
  if (!model) {
    const stored = new Map(rows.map((row) => [row.id, row.embedding]));
    return (itemId) => stored.get(itemId);
  }
  if (model.holdsVectors) {
    const decoded = new Map<string, Float32Array | undefined>();
    return (itemId) => {
      if (known?.has(itemId)) return known.get(itemId);
      if (decoded.has(itemId)) return decoded.get(itemId);
      const vector = model.heldVector(itemId);
      decoded.set(itemId, vector);
      return vector;
    };
  }
  const read = await model.vectorsOf(
    rows.filter((found) => known?.get(found.id) === undefined).map((found) => found.id),
  );
  return (itemId) => known?.get(itemId) ?? read.get(itemId);
}

/**
 * Marks the new items (added since the last training, so unknown to the collaborative models and the
 * ranker) that are at least as close in content to the user's main interest as the lower quartile of the
 * best-ranked known items: they may take a new-item slot (rerank), nearest first. Close to the user's
 * taste, not merely new.
 */
function markCloseNewItems(rankable: (RankableCandidate & { isNew?: boolean })[], taste: Float32Array): void {
  const closeness = (embedding: Float32Array | undefined) => {
    if (!embedding || embedding.length !== taste.length) return undefined;
    let dot = 0;
    for (let d = 0; d < taste.length; d++) dot += embedding[d]! * taste[d]!;
    return dot;
  };
  const reference = rankable
    .filter((candidate) => !candidate.isNew)
    .slice(0, NEW_ITEM_REFERENCE)
    .map((candidate) => closeness(candidate.embedding))
    .filter((value) => value !== undefined)
    .sort((a, b) => a - b);
  if (reference.length === 0) return;
  // The lower quartile: a new item must be closer than most of what the page shows anyway.
  const bar = reference[Math.floor(reference.length / 4)]!;
  for (const candidate of rankable) {
    if (!candidate.isNew) continue;
    const value = closeness(candidate.embedding);
    if (value !== undefined && value >= bar) candidate.newItemContent = value;
  }
}

/**
 * The blended score after cold-start help and the user's dislikes. An item added since the last training
 * has no collaborative or popularity signal to compete with yet, so its content similarity counts
 * COLD_ITEM_CONTENT_BOOST times: a new release close to a user's taste makes their page before anyone has
 * watched it. (Items that were there at the training and still have no interactions get no boost: on
 * movielens-100k boosting them cost NDCG@10 0.007.) An item all of whose genres the user turned away from is dropped; one
 * sharing some of them, or close to the direction of what they rejected, loses up to half.
 */
function adjustedScore(
  candidate: BlendedCandidate,
  found: { genres: readonly string[]; isNew: boolean },
  embeddingOf: () => Float32Array | undefined,
  options: RankOptions,
): number | undefined {
  let score = candidate.score;
  if (found.isNew)
    score +=
      (COLD_ITEM_CONTENT_BOOST - 1) * ((candidate.shares.vector ?? 0) + (candidate.shares.session ?? 0));
  const { genres } = found;
  const disliked = options.dislikedGenres;
  if (disliked && disliked.size > 0 && genres.length > 0) {
    const share = genres.filter((genre) => disliked.has(genre)).length / genres.length;
    if (share === 1) return undefined;
    score *= 1 - 0.5 * share;
  }
  const embedding = options.negative ? embeddingOf() : undefined;
  if (options.negative && embedding && embedding.length === options.negative.length) {
    let dot = 0;
    for (let d = 0; d < embedding.length; d++) dot += embedding[d]! * options.negative[d]!;
    score *= 1 - 0.5 * Math.max(0, dot);
  }
  return score;
}

/**
 * Genres the user turned away from: genres of items they explicitly rejected (the profile's negative
 * items: disliked, skipped) whose items weigh negatively overall in their history.
 */
export function dislikedGenresOf(
  history: readonly { itemId: string; weight: number }[],
  rejectedItemIds: readonly string[],
  genresOf: (itemId: string) => readonly string[] | undefined,
): Set<string> {
  const rejectedGenres = new Set(rejectedItemIds.flatMap((itemId) => genresOf(itemId) ?? []));
  if (rejectedGenres.size === 0) return new Set();
  const affinity = new Map<string, number>();
  for (const { itemId, weight } of history)
    for (const genre of genresOf(itemId) ?? [])
      if (rejectedGenres.has(genre)) affinity.set(genre, (affinity.get(genre) ?? 0) + weight);
  return new Set([...affinity].filter(([, value]) => value < 0).map(([genre]) => genre));
}

interface ServeOptions {
  scope: string;
  userId: string | undefined;
  request: PageRequest;
  variant: string;
  endpoint: string;
  params: unknown;
  ttlSeconds?: number;
  compute: (window: number, recommendationId: string) => Promise<RankedList>;
}

/**
 * Pages through a ranked list: the first page makes a recommendationId that the cursor carries, each page is
 * computed (deep enough for its offset) and cached under (scope, user, parameters, offset), and what a page
 * showed is recorded for attribution when it is computed.
 */
async function servePage(deps: RecommenderDeps, options: ServeOptions): Promise<PageAnswer> {
  const { request } = options;
  const record = request.recordImpressions ?? true;
  const position = request.cursor ? decodeCursor(request.cursor, cursorShape) : undefined;
  const offset = position?.o ?? 0;
  const recommendationId = position?.r ?? randomUUID();
  const ttl = options.ttlSeconds ?? deps.config.cacheSeconds.recommendations;
  const { json, value, hit } = await deps.pageCache.getOrCompute(
    {
      scope: record ? options.scope : `${options.scope}:candidates`,
      userId: options.userId,
      params: JSON.stringify([options.params, offset, position?.r ?? null]),
    },
    ttl,
    async (): Promise<RecommendationPage> => {
      // Down to this page and one item more (to know whether another page follows): the greedy rerank's
      // list for a larger window starts with the list for a smaller one, so a deeper page continues the same
      // ranking, and the re-ranking's cost grows with the window.
      const window = Math.min(MAX_RANKED, offset + request.limit + 1);
      const ranked = await options.compute(window, recommendationId);
      const shown = ranked.items.slice(offset, offset + request.limit);
      const rows = await findItemRows(
        deps.db,
        shown.map((entry) => entry.itemId),
      );
      // An item deleted since it was ranked (milliseconds ago) is left out.
      const items: RecommendedItem[] = shown.flatMap((entry) => {
        const row = rows.get(entry.itemId);
        return row
          ? [
              {
                itemId: entry.itemId,
                score: entry.score,
                item: toItem(row),
                reasons: entry.reasons,
                ...(entry.signals && { signals: entry.signals }),
              },
            ]
          : [];
      });
      const next = offset + items.length;
      if (record)
        await insertImpressions(
          deps.db,
          items.map((item, at) => ({
            recommendationId,
            position: offset + at,
            itemId: item.itemId,
            userId: options.userId,
            endpoint: options.endpoint,
            variant: options.variant,
            sources: [...new Set(item.reasons.map((reason) => reason.source))],
          })),
        );
      return {
        recommendationId,
        variant: options.variant,
        items,
        // More follow when the window held an item beyond this page.
        nextCursor:
          items.length === request.limit && ranked.items.length > next
            ? encodeCursor({ o: next, r: recommendationId })
            : null,
      };
    },
  );
  let page = value;
  return {
    json,
    cache: hit ? 'hit' : 'miss',
    get page() {
      page ??= JSON.parse(json.toString()) as RecommendationPage;
      return page;
    },
  };
}

function pageParams(request: PageRequest) {
  return {
    limit: request.limit,
    diversity: request.diversity ?? null,
    exclude: request.exclude ? [...request.exclude].sort() : [],
    filters: request.filters,
  };
}

/** The variant a user is in: a stable hash of the id over the variants' shares, unless one is forced. */
export function chooseVariant(config: RecommenderConfig, userId: string, forced: string | undefined): string {
  const names = Object.keys(config.variants).sort();
  if (forced !== undefined) {
    if (!names.includes(forced))
      throw new ValidationError([
        { path: 'query.variant', message: `is not a configured variant (${names.join(', ')})` },
      ]);
    return forced;
  }
  const total = names.reduce((sum, name) => sum + config.variants[name]!.share, 0);
  if (total <= 0) return names[0] ?? 'default';
  let point = (fnv1a(`variant:${userId}`) / 4_294_967_296) * total;
  for (const name of names) {
    point -= config.variants[name]!.share;
    if (point < 0) return name;
  }
  return names[names.length - 1]!;
}

interface VariantSettings {
  weights: SourceWeights;
  diversity: number;
  ranker: RankerChoice;
}

function variantSettings(config: RecommenderConfig, variant: string): VariantSettings {
  const settings = config.variants[variant];
  return {
    weights: { ...config.sourceWeights, ...settings?.weights },
    diversity: settings?.diversity ?? config.diversity,
    ranker: settings?.ranker ?? config.ranker,
  };
}

/** What a page reads of the state shared by every page: the versions, and the catalog as of them. */
interface HeldState {
  versions: { catalog: string; statistics: string } | undefined;
  catalog: HeldCatalog | undefined;
}

/** One read of the versions a page's shared state depends on, and the held catalog brought up to them. */
async function heldState(deps: RecommenderDeps): Promise<HeldState> {
  if (!deps.topLists && !deps.catalog) return { versions: undefined, catalog: undefined };
  const versions = await deps.pageCache.versions();
  return { versions, catalog: await deps.catalog?.at(versions.catalog) };
}

/**
 * Titles and genres of some items (the evidence a page cites), from the held catalog; what it does not hold
 * (or all of them without it) from the database. Their embeddings too when no model is held.
 */
async function itemSummaries(
  deps: RecommenderDeps,
  catalog: HeldCatalog | undefined,
  ids: readonly string[],
): Promise<Map<string, { title: string; genres: readonly string[]; embedding?: Float32Array | undefined }>> {
  if (!catalog || !deps.model) return findItemSummaries(deps.db, ids, { withEmbeddings: !deps.model });
  const found = new Map<string, { title: string; genres: readonly string[] }>();
  const missing: string[] = [];
  for (const id of ids) {
    const entry = catalog.get(id);
    if (entry) found.set(id, { title: entry.title, genres: entry.genres });
    else missing.push(id);
  }
  if (missing.length > 0)
    for (const [id, summary] of await findItemSummaries(deps.db, missing)) found.set(id, summary);
  return found;
}

/**
 * The candidates an unfiltered page may show (available now), checked in the held catalog; those it does not
 * hold (added since it was read) are checked in the database.
 */
async function rankableFromCatalog(
  deps: RecommenderDeps,
  catalog: HeldCatalog,
  ids: readonly string[],
): Promise<RankableCandidateRow[]> {
  const now = Date.now();
  const rows: RankableCandidateRow[] = [];
  const unknown: string[] = [];
  for (const id of ids) {
    const entry = catalog.get(id);
    if (!entry) unknown.push(id);
    else if (availableAt(entry, now))
      rows.push({
        id,
        genres: entry.genres,
        seriesId: entry.seriesId,
        isNew: catalog.trainedAt === undefined || entry.createdAt > catalog.trainedAt,
        embedding: undefined,
      });
  }
  if (unknown.length > 0)
    rows.push(...(await findRankableCandidates(deps.db, unknown, {}, { withEmbeddings: false })));
  return rows;
}

function candidateStore(deps: RecommenderDeps, held: HeldState): CandidateStore {
  const { db } = deps;
  const { versions, catalog } = held;
  return {
    // From memory unless the page has filters (pgvector searches the graph until enough items pass them);
    // the rankable rows' check drops what may not be shown.
    nearest: async (vector, query) =>
      (hasFilters(query.filters) ? undefined : deps.model?.nearest(vector, query)) ??
      findNearestItems(db, vector, query),
    neighbours: async (itemIds) => {
      const lists = deps.model?.neighbourLists;
      if (!lists) return findItemNeighbours(db, itemIds);
      const found = new Map<string, { neighbourIds: string[]; scores: number[] }>();
      for (const itemId of itemIds) {
        const list = lists.get(itemId);
        if (list) found.set(itemId, list);
      }
      return found;
    },
    top: (stat, query) =>
      deps.topLists && versions
        ? deps.topLists(stat, query, `${versions.catalog}:${versions.statistics}`)
        : findTopItemsByStat(db, stat, query),
    fresh: async (vector, query) =>
      (catalog && !hasFilters(query.filters)
        ? freshFromCatalog(catalog, deps.model, vector, query)
        : undefined) ?? findFreshItems(db, vector, query),
    boosted: async (query) => {
      if (!catalog || hasFilters(query.filters)) return findBoostedItems(db, query);
      const now = Date.now();
      const excluded = new Set(query.excludeIds);
      const found: { itemId: string; boost: number }[] = [];
      for (const boosted of catalog.boosted()) {
        if (found.length >= query.limit) break;
        const entry = catalog.get(boosted.itemId);
        if (entry && !excluded.has(boosted.itemId) && availableAt(entry, now)) found.push(boosted);
      }
      return found;
    },
  };
}

/** Releases a page ranks by similarity in memory, at most: beyond, pgvector's index walks them. */
const MAX_FRESH_IN_MEMORY = 4_000;

/**
 * The fresh source's items from the held catalog (available now, not excluded), ranked by cosine similarity
 * to `vector` over the held vectors, or in release order without one; undefined when the releases are too
 * many to rank here or no vectors are held (pgvector answers).
 */
function freshFromCatalog(
  catalog: HeldCatalog,
  model: ModelSnapshot | undefined,
  vector: Float32Array | undefined,
  query: StoreQuery & { sinceYear: number },
): { itemId: string; similarity: number | undefined; releaseYear: number | null }[] | undefined {
  const released = catalog.releasedSince(query.sinceYear);
  if (released.length > MAX_FRESH_IN_MEMORY) return undefined;
  const now = Date.now();
  const excluded = new Set(query.excludeIds);
  const shown = released.filter((entry) => !excluded.has(entry.itemId) && availableAt(entry, now));
  if (!vector)
    return shown
      .slice(0, query.limit)
      .map((entry) => ({ itemId: entry.itemId, similarity: undefined, releaseYear: entry.releaseYear }));
  const similarities = model?.similarities(
    vector,
    shown.map((entry) => entry.itemId),
  );
  if (!similarities) return undefined;
  // As pgvector's join: an item without a vector is not ranked.
  const ranked: { itemId: string; similarity: number; releaseYear: number | null }[] = [];
  shown.forEach((entry, at) => {
    const similarity = similarities[at];
    if (similarity !== undefined)
      ranked.push({ itemId: entry.itemId, similarity, releaseYear: entry.releaseYear });
  });
  return ranked
    .sort((a, b) => b.similarity - a.similarity || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0))
    .slice(0, query.limit);
}

function emptyList(source: CandidateSource): Promise<SourceCandidates> {
  return Promise.resolve({ source, candidates: [] });
}

/** The normalised mean of the vectors present, or undefined without any. */
function meanVector(vectors: readonly (Float32Array | undefined)[]): Float32Array | undefined {
  const present = vectors.filter((vector): vector is Float32Array => vector !== undefined);
  if (present.length === 0) return undefined;
  const sum = new Float32Array(present[0]!.length);
  for (const vector of present) for (let d = 0; d < sum.length; d++) sum[d]! += vector[d] ?? 0;
  const norm = Math.hypot(...sum) || 1;
  return sum.map((value) => value / norm);
}
