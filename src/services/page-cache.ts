import { randomUUID } from 'node:crypto';
import type { Cache } from '../cache/cache.ts';
import { userCachePrefix } from './users.service.ts';

/**
 * Versioned caching of computed pages. A page's key holds the version of the catalog and of its user (or of
 * the item statistics, for a page made from them alone: trending); writing an event bumps the user's and the
 * statistics' versions and a catalog change bumps the catalog's, so stale pages are
 * never read again, in any replica (the versions live in the shared cache), and simply expire. A miss is
 * computed once per process however many requests wait for it (single flight).
 */
export interface PageCache {
  /**
   * The page under these key parts as JSON text, or computes, stores and returns it (then with its value
   * too). A hit is never parsed: the route sends the text as it is.
   */
  getOrCompute<T>(
    parts: {
      scope: string;
      userId?: string | undefined;
      params: string;
      /** The page is made from the item statistics alone (trending): events make it stale. */
      statistics?: boolean | undefined;
    },
    ttlSeconds: number,
    compute: () => Promise<T>,
  ): Promise<CachedPage<T>>;
  /** The versions of the catalog and of the item statistics, in one round trip. */
  versions(): Promise<{ catalog: string; statistics: string }>;
  /** The user's cached pages are stale (they posted an event). */
  invalidateUser(userId: string): Promise<void>;
  /** Pages made from the item statistics are stale (events were stored or deleted). */
  invalidateStatistics(): Promise<void>;
  /** Every cached page is stale (the catalog or the models changed). */
  invalidateCatalog(): Promise<void>;
}

export interface CachedPage<T> {
  /** The JSON text (a hit from Redis: its UTF-8 bytes). */
  json: string | Buffer;
  /** The value, when it was computed by this call (a miss); parse `json` otherwise. */
  value: T | undefined;
  hit: boolean;
}

const CATALOG_VERSION_KEY = 'catalog:version';
const STATISTICS_VERSION_KEY = 'statistics:version';
const userVersionKey = (userId: string) => `${userCachePrefix(userId)}version`;
// Versions outlive any page (a lost version only makes pages miss once).
const VERSION_TTL_SECONDS = 7 * 24 * 3600;

export function createPageCache(cache: Cache): PageCache {
  const inFlight = new Map<string, Promise<{ json: string; value: unknown }>>();
  return {
    async getOrCompute<T>(
      parts: { scope: string; userId?: string | undefined; params: string; statistics?: boolean | undefined },
      ttlSeconds: number,
      compute: () => Promise<T>,
    ): Promise<CachedPage<T>> {
      // Every version the page depends on, in one round trip.
      const [catalog, second] = await cache.getMany<string>([
        CATALOG_VERSION_KEY,
        ...(parts.userId !== undefined ? [userVersionKey(parts.userId)] : []),
        ...(parts.userId === undefined && parts.statistics ? [STATISTICS_VERSION_KEY] : []),
      ]);
      const prefix = parts.userId === undefined ? 'pages:' : `${userCachePrefix(parts.userId)}pages:`;
      const key = `${prefix}${parts.scope}:${catalog ?? '0'}:${second ?? '0'}:${parts.params}`;
      if (ttlSeconds > 0) {
        const cached = await cache.getRaw(key);
        if (cached !== undefined) return { json: cached, value: undefined, hit: true };
      }
      let pending = inFlight.get(key) as Promise<{ json: string; value: T }> | undefined;
      if (!pending) {
        pending = compute().then(async (value) => {
          const json = JSON.stringify(value);
          if (ttlSeconds > 0) await cache.setRaw(key, json, ttlSeconds);
          return { json, value };
        });
        inFlight.set(key, pending);
        void pending.then(
          () => inFlight.delete(key),
          () => inFlight.delete(key),
        );
      }
      const computed = await pending;
      return { json: computed.json, value: computed.value, hit: false };
    },
    async versions() {
      const [catalog, statistics] = await cache.getMany<string>([
        CATALOG_VERSION_KEY,
        STATISTICS_VERSION_KEY,
      ]);
      return { catalog: catalog ?? '0', statistics: statistics ?? '0' };
    },
    async invalidateUser(userId) {
      await cache.set(userVersionKey(userId), randomUUID().slice(0, 8), VERSION_TTL_SECONDS);
    },
    async invalidateStatistics() {
      await cache.set(STATISTICS_VERSION_KEY, randomUUID().slice(0, 8), VERSION_TTL_SECONDS);
    },
    async invalidateCatalog() {
      await cache.set(CATALOG_VERSION_KEY, randomUUID().slice(0, 8), VERSION_TTL_SECONDS);
    },
  };
}
