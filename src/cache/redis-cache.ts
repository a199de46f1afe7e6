import { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';
import type { Cache } from './cache.ts';

// With Redis down, ioredis's defaults made a GET fail only after 73 s (../shared/FACTS.md). These bound
// every call to about 100 ms: no offline queue (fail at once while disconnected), one attempt per
// command, and a command time-out.
const COMMAND_TIMEOUT_MS = 100;
const MAX_RECONNECT_DELAY_MS = 2_000;
const SCAN_BATCH = 500;
// How long start-up waits for Redis before serving without it (it keeps reconnecting in the background).
const CONNECT_WAIT_MS = 2_000;

export interface RedisCacheOptions {
  url: string;
  keyPrefix: string;
  logger: Pick<FastifyBaseLogger, 'warn'>;
}

/**
 * Connects to Redis, waiting up to 2 s for the connection so that the first requests are cached; when Redis
 * is down the cache starts degraded and recovers by itself when Redis comes back.
 */
export async function openRedisCache(options: RedisCacheOptions): Promise<Cache> {
  const cache = createRedisCache(options);
  await cache.waitUntilConnected(CONNECT_WAIT_MS);
  return cache;
}

/**
 * A Redis client that fails fast instead of queueing: every call gives up within about 100 ms while Redis
 * is unreachable, and the client reconnects in the background. For the cache and the rate limiter; BullMQ
 * workers need the opposite (maxRetriesPerRequest: null).
 */
export function createFailFastRedisClient(url: string, keyPrefix: string): Redis {
  return new Redis(url, {
    keyPrefix,
    // Commands issued in the same tick (concurrent requests) go out in one write and one read.
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    commandTimeout: COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, MAX_RECONNECT_DELAY_MS),
  });
}

export function createRedisCache({
  url,
  keyPrefix,
  logger,
}: RedisCacheOptions): Cache & { waitUntilConnected(milliseconds: number): Promise<boolean> } {
  const redis = createFailFastRedisClient(url, keyPrefix);
  // Without a listener ioredis prints every failed reconnect; one warning per outage is enough.
  let warned = false;
  redis.on('error', (error) => {
    if (!warned) logger.warn({ err: error }, 'redis cache unavailable; serving without cache');
    warned = true;
  });
  redis.on('ready', () => {
    warned = false;
  });

  const degrade =
    <T>(fallback: T) =>
    (error: unknown) => {
      if (!warned) logger.warn({ err: error }, 'redis cache call failed; continuing without cache');
      warned = true;
      return fallback;
    };

  return {
    kind: 'redis',
    async waitUntilConnected(milliseconds) {
      if (redis.status === 'ready') return true;
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          redis.off('ready', onReady);
          resolve(false);
        }, milliseconds);
        const onReady = () => {
          clearTimeout(timer);
          resolve(true);
        };
        redis.once('ready', onReady);
      });
    },
    async get<T>(key: string) {
      const raw = await redis.get(key).catch(degrade(null));
      if (raw === null) return undefined;
      try {
        return JSON.parse(raw) as T;
      } catch {
        return undefined;
      }
    },
    async getMany<T>(keys: readonly string[]) {
      if (keys.length === 0) return [];
      const raws = await redis.mget(...keys).catch(degrade(keys.map(() => null)));
      return raws.map((raw) => {
        if (raw === null) return undefined;
        try {
          return JSON.parse(raw) as T;
        } catch {
          return undefined;
        }
      });
    },
    async getRaw(key) {
      const raw = await redis.getBuffer(key).catch(degrade(null));
      return raw ?? undefined;
    },
    async setRaw(key, json, ttlSeconds) {
      await redis.set(key, json, 'EX', Math.max(1, Math.round(ttlSeconds))).catch(degrade(undefined));
    },
    async set(key, value, ttlSeconds) {
      await redis
        .set(key, JSON.stringify(value), 'EX', Math.max(1, Math.round(ttlSeconds)))
        .catch(degrade(undefined));
    },
    async increment(key, amount, ttlSeconds) {
      // One round trip; EXPIRE NX sets the expiry only when the counter is new (Redis >= 7).
      const replies = await redis
        .multi()
        .incrbyfloat(key, amount)
        .expire(key, Math.max(1, Math.round(ttlSeconds)), 'NX')
        .exec()
        .catch(degrade(null));
      const [error, total] = replies?.[0] ?? [new Error('no reply'), null];
      return error ? undefined : Number(total);
    },
    async delete(...keys) {
      if (keys.length > 0) await redis.unlink(...keys).catch(degrade(0));
    },
    async deleteByPrefix(prefix) {
      // SCAN MATCH sees raw keys, so it needs ioredis's key prefix; UNLINK adds it again, so strip it.
      const pattern = `${escapeGlob(keyPrefix + prefix)}*`;
      let cursor = '0';
      try {
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_BATCH);
          cursor = next;
          if (keys.length > 0) await redis.unlink(...keys.map((key) => key.slice(keyPrefix.length)));
        } while (cursor !== '0');
      } catch (error) {
        degrade(undefined)(error);
      }
    },
    async health() {
      if (redis.status !== 'ready') return 'degraded';
      const pong = await redis.ping().catch(() => null);
      return pong === 'PONG' ? 'ok' : 'degraded';
    },
    async close() {
      redis.disconnect();
    },
  };
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (character) => `\\${character}`);
}
