import { LRUCache } from 'lru-cache';
import type { Cache } from './cache.ts';

// 10,000 entries: pages of about 20 items are a few KB each, so this stays in the tens of MB.
const DEFAULT_MAX_ENTRIES = 10_000;

export function createMemoryCache(maxEntries = DEFAULT_MAX_ENTRIES): Cache {
  // Values are stored serialised so a caller can never mutate what another caller will read.
  const entries = new LRUCache<string, string>({ max: maxEntries });
  return {
    kind: 'memory',
    async get<T>(key: string) {
      const raw = entries.get(key);
      return raw === undefined ? undefined : (JSON.parse(raw) as T);
    },
    async getMany<T>(keys: readonly string[]) {
      return keys.map((key) => {
        const raw = entries.get(key);
        return raw === undefined ? undefined : (JSON.parse(raw) as T);
      });
    },
    async getRaw(key) {
      return entries.get(key);
    },
    async setRaw(key, json, ttlSeconds) {
      entries.set(key, json, { ttl: ttlSeconds * 1000 });
    },
    async set(key, value, ttlSeconds) {
      entries.set(key, JSON.stringify(value), { ttl: ttlSeconds * 1000 });
    },
    async increment(key, amount, ttlSeconds) {
      const raw = entries.get(key);
      const total = (raw === undefined ? 0 : Number(JSON.parse(raw))) + amount;
      // The expiry runs from the counter's creation, as Redis's EXPIRE NX does.
      if (raw === undefined) entries.set(key, JSON.stringify(total), { ttl: ttlSeconds * 1000 });
      else
        entries.set(key, JSON.stringify(total), { ttl: entries.getRemainingTTL(key) || ttlSeconds * 1000 });
      return total;
    },
    async delete(...keys) {
      for (const key of keys) entries.delete(key);
    },
    async deleteByPrefix(prefix) {
      for (const key of [...entries.keys()]) if (key.startsWith(prefix)) entries.delete(key);
    },
    async health() {
      return 'ok';
    },
    async close() {
      entries.clear();
    },
  };
}
