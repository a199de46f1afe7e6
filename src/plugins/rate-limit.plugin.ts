import rateLimit from '@fastify/rate-limit';
import { once } from 'node:events';
import { setTimeout } from 'node:timers/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Scope } from '../auth/access.ts';
import { createFailFastRedisClient } from '../cache/redis-cache.ts';
import type { Config } from '../config.ts';
import { PROBLEM_TYPE_PREFIX } from '../errors.ts';

const WINDOW_MS = 60_000;
const REDIS_CONNECT_WAIT_MS = 2_000;

/** Requests per minute for each kind of caller. */
export type RateLimits = Config['rateLimits'];

/**
 * Per-credential rate limits (per API key, per user token; per IP address for calls without credentials),
 * counted in Redis when it is configured so that every replica shares them. It runs after authentication,
 * so a key's budget is spent only by requests that really carry it. When Redis fails, requests pass.
 */
export const rateLimitPlugin = fp(
  async (
    app: FastifyInstance,
    options: { limits: RateLimits; redisUrl: string | undefined; keyPrefix: string },
  ) => {
    const redis = options.redisUrl
      ? createFailFastRedisClient(options.redisUrl, `${options.keyPrefix}ratelimit:`)
      : undefined;
    redis?.on('error', () => {});
    app.addHook('onClose', async () => redis?.disconnect());
    // The client fails fast while it is not connected (and the limiter then lets requests pass): wait for
    // the connection at start-up, up to 2 s, so that limits hold from the first request.
    if (redis && redis.status !== 'ready') {
      const waited = new AbortController();
      await Promise.race([
        once(redis, 'ready', { signal: waited.signal }),
        setTimeout(REDIS_CONNECT_WAIT_MS, undefined, { signal: waited.signal }),
      ]).catch(() => undefined);
      waited.abort();
    }

    await app.register(rateLimit, {
      global: true,
      timeWindow: WINDOW_MS,
      ...(redis && { redis }),
      // A failing Redis must not turn into failing requests.
      skipOnError: true,
      enableDraftSpec: true,
      keyGenerator: (request) => callerKey(request),
      max: (request) => limitFor(request, options.limits),
      errorResponseBuilder: (request, context) => {
        const error = new Error(
          `Too many requests for this ${describeCaller(request)}: at most ${context.max} a minute. Retry in ${context.after}.`,
        ) as Error & { statusCode: number; problemType: string };
        error.statusCode = 429;
        error.problemType = `${PROBLEM_TYPE_PREFIX}rate-limited`;
        return error;
      },
    });
  },
  { name: 'rate-limit', dependencies: ['auth'] },
);

function callerKey(request: FastifyRequest): string {
  const principal = request.principal;
  if (principal?.kind === 'api-key') return `key:${principal.keyId}`;
  if (principal?.kind === 'user-token') return `user:${principal.userId}`;
  return `ip:${request.ip}`;
}

function describeCaller(request: FastifyRequest): string {
  const principal = request.principal;
  if (principal?.kind === 'api-key') return `API key (${principal.keyId})`;
  if (principal?.kind === 'user-token') return 'user token';
  return 'address';
}

const SCOPE_ORDER: readonly Scope[] = ['admin', 'ingest', 'client', 'read'];

function limitFor(request: FastifyRequest, limits: RateLimits): number {
  const principal = request.principal;
  if (principal?.kind === 'user-token') return limits.user;
  if (principal?.kind === 'api-key') {
    // A key with several scopes gets the most generous of their limits.
    return Math.max(
      ...SCOPE_ORDER.filter((scope) => principal.scopes.includes(scope)).map((scope) => limits[scope]),
    );
  }
  return limits.anonymous;
}
