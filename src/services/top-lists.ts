import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import { hasFilters } from '../recommender/item-filters.ts';
import type { StoreQuery } from '../recommender/sources.ts';
import { findTopItemsByStat, type ItemStat } from '../repositories/candidates.repository.ts';

/** How long a process reuses a global top list: a page's popular and trending candidates lag by at most this. */
const TOP_LIST_TTL_MS = 1_000;
/** How deep the shared list goes: a page drops the items its user consumed from it, then keeps `limit`. */
const TOP_LIST_DEPTH = 500;

export type TopItems = { itemId: string; value: number; users: number }[];

export type TopLists = (stat: ItemStat, query: StoreQuery, version: string) => Promise<TopItems>;

/**
 * The most popular and trending items, the same for every user: read at most once a second per process, and
 * again as soon as events or the catalog change (`version`: the versions of both, which every replica bumps
 * before such a write answers, as the page read them), instead of once a page; each page drops its user's
 * exclusions in memory. Pages with filters, and users who consumed so much of the list that fewer than
 * `limit` remain, ask Postgres.
 */
export function createTopLists(
  db: Kysely<Database>,
  { ttlMs = TOP_LIST_TTL_MS, depth = TOP_LIST_DEPTH }: { ttlMs?: number; depth?: number } = {},
): TopLists {
  const lists = new Map<ItemStat, { readAt: number; version: string; items: Promise<TopItems> }>();
  return async (stat, query, version) => {
    if (hasFilters(query.filters)) return findTopItemsByStat(db, stat, query);
    let list = lists.get(stat);
    if (!list || list.version !== version || performance.now() - list.readAt > ttlMs) {
      const items = findTopItemsByStat(db, stat, { limit: depth, filters: query.filters, excludeIds: [] });
      const current = { readAt: performance.now(), version, items };
      lists.set(stat, current);
      // A failed read is not kept: the next page asks again.
      items.catch(() => lists.get(stat) === current && lists.delete(stat));
      list = current;
    }
    const all = await list.items;
    const excluded = new Set(query.excludeIds);
    const kept = all.filter((item) => !excluded.has(item.itemId)).slice(0, query.limit);
    if (kept.length < query.limit && all.length === depth) return findTopItemsByStat(db, stat, query);
    if (stat === 'popularity' || kept.length === 0) return kept;
    // Trending values are relative to the strongest item of the list the page gets, as Postgres gives them.
    const strongest = kept[0]!.value;
    if (!(strongest > 0)) return findTopItemsByStat(db, stat, query);
    return kept.map((item) => ({ ...item, value: item.value / strongest }));
  };
}
