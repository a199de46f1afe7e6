import { createHash } from 'node:crypto';
import { scaleScores } from '../recommender/score-scale.ts';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import type { ItemFilters } from '../recommender/item-filters.ts';
import { findRankableItems, findTopItemsByStat } from '../repositories/candidates.repository.ts';
import type { TrendingPage, TrendingWindow } from '../schemas/trending.schema.ts';
import { toItem } from './items.service.ts';
import type { PageCache } from './page-cache.ts';

/**
 * Trending moves only when events are stored or deleted (time fades every item alike: the order and the
 * relative scores stay), so a list is cached until the statistics or the catalog change (versions bumped
 * before the write answers, in every replica) and at most this long: availability windows open and close
 * with time alone.
 */
export const TRENDING_CACHE_SECONDS = 60;

const WINDOW_WORDS: Record<TrendingWindow, string> = { day: 'today', week: 'this week', month: 'this month' };

export interface TrendingRequest {
  window: TrendingWindow;
  limit: number;
  filters: ItemFilters;
}

/** The most trending items over the window that pass the filters, from the cache when it has them. */
export async function trendingItems(
  db: Kysely<Database>,
  pageCache: PageCache,
  request: TrendingRequest,
): Promise<{ page: TrendingPage; cached: boolean }> {
  const { json, value, hit } = await pageCache.getOrCompute(
    { scope: 'trending', params: trendingCacheKey(request), statistics: true },
    TRENDING_CACHE_SECONDS,
    () => computeTrending(db, request),
  );
  return { page: value ?? (JSON.parse(json.toString()) as TrendingPage), cached: hit };
}

async function computeTrending(db: Kysely<Database>, request: TrendingRequest): Promise<TrendingPage> {
  const top = await findTopItemsByStat(db, `trending_${request.window}`, {
    limit: request.limit,
    filters: request.filters,
  });
  const rows = await findRankableItems(
    db,
    top.map((entry) => entry.itemId),
    request.filters,
    { withEmbeddings: false },
  );
  const rowsById = new Map(rows.map((entry) => [entry.row.id, entry.row]));
  return {
    window: request.window,
    items: scaleScores(
      top.flatMap((entry) => {
        const row = rowsById.get(entry.itemId);
        if (!row) return [];
        const viewers = `${entry.users} viewer${entry.users === 1 ? '' : 's'}`;
        return [
          {
            itemId: entry.itemId,
            score: entry.value,
            item: toItem(row),
            reasons: [
              {
                source: 'trending' as const,
                detail: `Trending ${WINDOW_WORDS[request.window]}: ${viewers}`,
                evidenceItemIds: [],
              },
            ],
          },
        ];
      }),
    ),
  };
}

/**
 * One key per distinct question: list filters are sets (order and repeats don't matter), absent filters
 * are left out, and the whole is hashed so that long attribute filters make short keys.
 */
export function trendingCacheKey(request: TrendingRequest): string {
  // availableNow defaults to true: saying so is the same question.
  const filters = {
    ...request.filters,
    availableNow: request.filters.availableNow === false ? false : undefined,
  };
  const normalised = normalise({ window: request.window, limit: request.limit, filters });
  return createHash('sha256').update(JSON.stringify(normalised)).digest('base64url');
}

function normalise(value: unknown): unknown {
  if (Array.isArray(value)) {
    const entries = value.map(normalise);
    return entries.every((entry) => typeof entry === 'string') ? [...new Set(entries)].sort() : entries;
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, entry]) => entry !== undefined && !(Array.isArray(entry) && entry.length === 0))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, entry]) => [key, normalise(entry)]),
    );
  }
  return value;
}
