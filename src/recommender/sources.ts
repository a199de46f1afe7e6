/**
 * The candidate sources, each a named strategy: it asks a CandidateStore (the repositories, bound to a
 * database) for items and turns them into scored candidates with their reasons. The scoring is pure; the
 * store is the only way out, so a source can be tested with an in-memory store.
 */
import type { CandidateSource } from '../config.ts';
import type { Candidate, SourceCandidates } from './blend.ts';
import type { ItemFilters } from './item-filters.ts';

export interface CandidateStore {
  nearest(vector: Float32Array, query: StoreQuery): Promise<{ itemId: string; similarity: number }[]>;
  neighbours(itemIds: readonly string[]): Promise<Map<string, { neighbourIds: string[]; scores: number[] }>>;
  top(
    stat: 'popularity' | 'trending_week',
    query: StoreQuery,
  ): Promise<{ itemId: string; value: number; users: number }[]>;
  fresh(
    vector: Float32Array | undefined,
    query: StoreQuery & { sinceYear: number },
  ): Promise<{ itemId: string; similarity: number | undefined; releaseYear: number | null }[]>;
  boosted(query: StoreQuery): Promise<{ itemId: string; boost: number }[]>;
}

export interface StoreQuery {
  limit: number;
  filters: ItemFilters;
  excludeIds: readonly string[];
}

/** What a source may say about the items it cites: their titles, for `detail`. */
export type TitleOf = (itemId: string) => string | undefined;

const list = (source: CandidateSource, candidates: Candidate[]): SourceCandidates => ({ source, candidates });
const quoted = (ids: readonly string[], titleOf: TitleOf) =>
  ids
    .map(titleOf)
    .filter((title): title is string => title !== undefined)
    .map((title) => `"${title}"`)
    .join(', ');

/**
 * Item-to-item collaborative filtering over the stored neighbour lists: score(j) = Σ_h w_h · sim(h, j) over
 * the history items h with positive weight. Evidence: the two history items contributing most.
 */
export async function collaborativeCandidates(
  store: CandidateStore,
  history: readonly { itemId: string; weight: number }[],
  query: StoreQuery,
  titleOf: TitleOf,
  source: CandidateSource = 'collaborative',
): Promise<SourceCandidates> {
  const positive = history.filter((entry) => entry.weight > 0);
  if (positive.length === 0) return list(source, []);
  const neighbours = await store.neighbours(positive.map((entry) => entry.itemId));
  const excluded = new Set(query.excludeIds);
  // Scores first; the evidence only of the candidates kept (a page reaches thousands of items, keeps 100).
  const scores = new Map<string, number>();
  for (const { itemId, weight } of positive) {
    const row = neighbours.get(itemId);
    if (!row) continue;
    row.neighbourIds.forEach((neighbourId, at) => {
      if (excluded.has(neighbourId)) return;
      const contribution = weight * (row.scores[at] ?? 0);
      if (contribution <= 0) return;
      scores.set(neighbourId, (scores.get(neighbourId) ?? 0) + contribution);
    });
  }
  const kept = bestEntries(scores, query.limit);
  const evidence = new Map<string, Map<string, number>>(kept.map(([itemId]) => [itemId, new Map()]));
  for (const { itemId, weight } of positive) {
    const row = neighbours.get(itemId);
    if (!row) continue;
    row.neighbourIds.forEach((neighbourId, at) => {
      const votes = evidence.get(neighbourId);
      if (!votes) return;
      const contribution = weight * (row.scores[at] ?? 0);
      if (contribution <= 0) return;
      votes.set(itemId, (votes.get(itemId) ?? 0) + contribution);
    });
  }
  const candidates = kept.map(([itemId, score]) => {
    const evidenceItemIds = [...evidence.get(itemId)!]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, 2)
      .map(([id]) => id);
    return {
      itemId,
      score,
      detail:
        source === 'session'
          ? `Often watched right after ${quoted(evidenceItemIds, titleOf) || 'what you just viewed'}`
          : coViewingDetail(evidenceItemIds, titleOf),
      evidenceItemIds,
      ...(source === 'session' && { coViewed: true }),
    };
  });
  return list(source, candidates);
}

/**
 * The `limit` highest-scored entries, best first, ties by id: what sorting every entry and keeping the first
 * `limit` gives, but only the entries at or above the limit-th score are sorted with the comparator (a page
 * reaches thousands of items and keeps 100; the threshold comes from a sort of the bare scores).
 */
function bestEntries(scores: ReadonlyMap<string, number>, limit: number): [string, number][] {
  if (limit <= 0) return [];
  let entries = [...scores];
  if (entries.length > limit) {
    const values = Float64Array.from(scores.values()).sort();
    const threshold = values[values.length - limit]!;
    entries = entries.filter((entry) => entry[1] >= threshold);
  }
  return entries.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, limit);
}

/** The `detail` of a collaborative reason: the co-viewing behind it, naming the evidence. */
export function coViewingDetail(evidenceItemIds: readonly string[], titleOf: TitleOf): string {
  return `People who watched ${quoted(evidenceItemIds, titleOf) || 'what you watched'} also watched this`;
}

export interface Interest {
  vector: Float32Array;
  weight: number;
  itemIds: readonly string[];
}

/**
 * Nearest neighbours of each interest vector through the HNSW index, the heavier interests getting more of
 * the `limit`; an item found by several interests keeps its best similarity.
 */
export async function vectorCandidates(
  store: CandidateStore,
  interests: readonly Interest[],
  query: StoreQuery,
  titleOf: TitleOf,
  source: CandidateSource = 'vector',
): Promise<SourceCandidates> {
  if (interests.length === 0) return list(source, []);
  const total = interests.reduce((sum, interest) => sum + Math.max(interest.weight, 0), 0) || 1;
  const results = await Promise.all(
    interests.map((interest) =>
      store.nearest(interest.vector, {
        ...query,
        limit: Math.max(20, Math.ceil((query.limit * Math.max(interest.weight, 0)) / total)),
      }),
    ),
  );
  const best = new Map<string, Candidate>();
  results.forEach((rows, at) => {
    const interest = interests[at]!;
    const evidenceItemIds = interest.itemIds.slice(0, 3);
    const names = quoted(evidenceItemIds, titleOf);
    // A lighter interest's matches count a little less than the main one's.
    const share = 0.75 + (0.25 * Math.max(interest.weight, 0)) / total;
    for (const row of rows) {
      const score = row.similarity * share;
      const current = best.get(row.itemId);
      if (current && current.score >= score) continue;
      best.set(row.itemId, {
        itemId: row.itemId,
        score,
        detail:
          source === 'session'
            ? `Close to ${names || 'what you just viewed'}`
            : `Close in story and style to ${names || 'what you enjoyed'}`,
        evidenceItemIds: [...evidenceItemIds],
        ...(source === 'session' && { coViewed: false }),
      });
    }
  });
  return list(
    source,
    [...best.values()]
      .sort((a, b) => b.score - a.score || (a.itemId < b.itemId ? -1 : 1))
      .slice(0, query.limit),
  );
}

/** The most popular items of all time: distinct users who interacted positively. */
export async function popularCandidates(store: CandidateStore, query: StoreQuery): Promise<SourceCandidates> {
  const rows = await store.top('popularity', query);
  return list(
    'popular',
    rows.map((row) => ({
      itemId: row.itemId,
      score: row.value,
      detail: `Popular: ${row.users} ${row.users === 1 ? 'viewer' : 'viewers'}`,
      evidenceItemIds: [],
      viewers: row.users,
      window: 'all-time' as const,
    })),
  );
}

/** What is popular right now: positive events decayed with a half-life of a week (live statistics). */
export async function trendingCandidates(
  store: CandidateStore,
  query: StoreQuery,
): Promise<SourceCandidates> {
  const rows = await store.top('trending_week', query);
  return list(
    'trending',
    rows.map((row) => ({
      itemId: row.itemId,
      score: row.value,
      detail: `Trending this week: ${row.users} ${row.users === 1 ? 'viewer' : 'viewers'}`,
      evidenceItemIds: [],
      viewers: row.users,
      window: 'week' as const,
    })),
  );
}

/**
 * Recent releases (this year and last), nearest to the main interest when there is one. By release date,
 * not by when the item was added: a first catalog import adds everything at once.
 */
export async function freshCandidates(
  store: CandidateStore,
  interest: Interest | undefined,
  query: StoreQuery,
  now: Date,
): Promise<SourceCandidates> {
  const rows = await store.fresh(interest?.vector, { ...query, sinceYear: now.getUTCFullYear() - 1 });
  return list(
    'fresh',
    rows.map((row, rank) => ({
      itemId: row.itemId,
      // Newest first without an interest; by similarity with one.
      score: row.similarity ?? 1 / (1 + rank),
      detail: `New ${row.releaseYear === null ? '' : `${row.releaseYear} `}release${interest ? ' that matches your interests' : ''}`,
      evidenceItemIds: interest ? interest.itemIds.slice(0, 2) : [],
      ...(row.releaseYear !== null && { releaseYear: row.releaseYear }),
    })),
  );
}

/** Items editors boosted (attributes.boost), by boost. */
export async function editorialCandidates(
  store: CandidateStore,
  query: StoreQuery,
): Promise<SourceCandidates> {
  const rows = await store.boosted(query);
  return list(
    'editorial',
    rows.map((row) => ({
      itemId: row.itemId,
      score: row.boost,
      detail: 'Featured by our editors',
      evidenceItemIds: [],
    })),
  );
}
