import { randomUUID } from 'node:crypto';
import type { Cache } from '../cache/cache.ts';
import { userCachePrefix } from './users.service.ts';

/**
 * Versioned caching of computed pages. A page's key holds the version of the catalog and of its user;
 * writing an event bumps the user's version and a catalog change bumps the catalog's, so stale pages are
 * never read again, in any replica (the versions live in the shared cache), and simply expire. A miss is
 * computed once per process however many requests wait for it (single flight).
 */
export interface PageCache {
  /** The cached value under these key parts, or computes, stores and returns it. */
  getOrCompute<T>(
    parts: { scope: string; userId?: string | undefined; params: string },
    ttlSeconds: number,
    compute: () => Promise<T>,
  ): Promise<{ value: T; hit: boolean }>;
  /** The user's cached pages are stale (they posted an event). */
  invalidateUser(userId: string): Promise<void>;
  /** Every cached page is stale (the catalog or the models changed). */
  invalidateCatalog(): Promise<void>;
}

const CATALOG_VERSION_KEY = 'catalog:version';
const userVersionKey = (userId: string) => `${userCachePrefix(userId)}version`;
// Versions outlive any page (a lost version only makes pages miss once).
const VERSION_TTL_SECONDS = 7 * 24 * 3600;

export function createPageCache(cache: Cache): PageCache {
  const inFlight = new Map<string, Promise<unknown>>();
  return {
    async getOrCompute<T>(
      parts: { scope: string; userId?: string | undefined; params: string },
      ttlSeconds: number,
      compute: () => Promise<T>,
    ) {
      const [catalog, user] = await Promise.all([
        cache.get<string>(CATALOG_VERSION_KEY),
        parts.userId === undefined ? undefined : cache.get<string>(userVersionKey(parts.userId)),
      ]);
      const prefix = parts.userId === undefined ? 'pages:' : `${userCachePrefix(parts.userId)}pages:`;
      const key = `${prefix}${parts.scope}:${catalog ?? '0'}:${user ?? '0'}:${parts.params}`;
      if (ttlSeconds > 0) {
        const cached = await cache.get<T>(key);
        if (cached !== undefined) return { value: cached, hit: true };
      }
      let pending = inFlight.get(key) as Promise<T> | undefined;
      if (!pending) {
        pending = compute().then(async (value) => {
          if (ttlSeconds > 0) await cache.set(key, value, ttlSeconds);
          return value;
        });
        inFlight.set(key, pending);
        void pending.then(
          () => inFlight.delete(key),
          () => inFlight.delete(key),
        );
      }
      return { value: await pending, hit: false };
    },
    async invalidateUser(userId) {
      await cache.set(userVersionKey(userId), randomUUID().slice(0, 8), VERSION_TTL_SECONDS);
    },
    async invalidateCatalog() {
      await cache.set(CATALOG_VERSION_KEY, randomUUID().slice(0, 8), VERSION_TTL_SECONDS);
    },
  };
}
