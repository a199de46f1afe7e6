import type { Counter } from 'prom-client';
import type { Cache } from './cache.ts';

/**
 * The same cache, counting its operations: reads as hit or miss (a cache that is down reads as a miss, as
 * it behaves), writes and deletions as done.
 */
export function instrumentCache(cache: Cache, operations: Counter<'operation' | 'result'>): Cache {
  return {
    kind: cache.kind,
    async get<T>(key: string) {
      const value = await cache.get<T>(key);
      operations.inc({ operation: 'get', result: value === undefined ? 'miss' : 'hit' });
      return value;
    },
    async getMany<T>(keys: readonly string[]) {
      const values = await cache.getMany<T>(keys);
      for (const value of values)
        operations.inc({ operation: 'get', result: value === undefined ? 'miss' : 'hit' });
      return values;
    },
    async getRaw(key) {
      const json = await cache.getRaw(key);
      operations.inc({ operation: 'get', result: json === undefined ? 'miss' : 'hit' });
      return json;
    },
    async setRaw(key, json, ttlSeconds) {
      await cache.setRaw(key, json, ttlSeconds);
      operations.inc({ operation: 'set', result: 'done' });
    },
    async set(key, value, ttlSeconds) {
      await cache.set(key, value, ttlSeconds);
      operations.inc({ operation: 'set', result: 'done' });
    },
    async increment(key, amount, ttlSeconds) {
      const total = await cache.increment(key, amount, ttlSeconds);
      operations.inc({ operation: 'increment', result: total === undefined ? 'miss' : 'done' });
      return total;
    },
    async delete(...keys) {
      await cache.delete(...keys);
      operations.inc({ operation: 'delete', result: 'done' });
    },
    async deleteByPrefix(prefix) {
      await cache.deleteByPrefix(prefix);
      operations.inc({ operation: 'delete_prefix', result: 'done' });
    },
    health: () => cache.health(),
    close: () => cache.close(),
  };
}
