import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { z } from 'zod';
import { publicAccess } from '../auth/access.ts';
import { asBusyError } from '../errors.ts';
import { problemResponses } from '../schemas/problem.schema.ts';

// A readiness probe must answer even when the database hangs: give up on it after this long.
const DATABASE_PING_TIMEOUT_MS = 2_000;

const dependencyStatus = z.enum(['ok', 'degraded', 'unavailable']);
const databaseStatus = z.enum(['ok', 'busy', 'unavailable']);

const readinessSchema = z
  .object({
    status: z
      .enum(['ok', 'degraded', 'busy', 'unavailable'])
      .describe(
        'unavailable when the database cannot be reached; busy when it answers but every connection is in ' +
          'use and the check query waited past its time (overload: requests beyond the queue get 503 busy, ' +
          'the process stays ready); degraded when the cache cannot be reached.',
      ),
    checks: z.object({
      database: z.object({
        status: databaseStatus,
        mode: z.enum(['embedded', 'postgres']),
        latencyMs: z.number().describe('Round-trip time of the check query (up to its 2 s time-out).'),
        waiting: z
          .number()
          .int()
          .describe('Requests of this process waiting for a database connection when the check ended.'),
      }),
      cache: z.object({ status: dependencyStatus, kind: z.enum(['memory', 'redis']) }),
    }),
  })
  .meta({
    id: 'Readiness',
    examples: [
      {
        status: 'ok',
        checks: {
          database: { status: 'ok', mode: 'embedded', latencyMs: 0.4, waiting: 0 },
          cache: { status: 'ok', kind: 'memory' },
        },
      },
    ],
  });

export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/healthz',
    {
      // Probes from load balancers are not rate limited.
      config: { access: publicAccess, rateLimit: false, shedWhenBusy: false },
      schema: {
        operationId: 'getLiveness',
        summary: 'Liveness',
        description: 'Answers 200 while the process runs. It checks no dependency: use /readyz for that.',
        tags: ['health'],
        response: {
          200: z.object({ status: z.literal('ok') }).meta({ id: 'Liveness', examples: [{ status: 'ok' }] }),
          ...problemResponses(),
        },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      // Probes from load balancers are not rate limited.
      config: { access: publicAccess, rateLimit: false, shedWhenBusy: false },
      schema: {
        operationId: 'getReadiness',
        summary: 'Readiness',
        description:
          'Checks the database and the cache. 200 when the database answers (the cache may be degraded: ' +
          'requests then run uncached), also when it is busy (every connection in use: the process sheds ' +
          'what it cannot queue with 503 busy, and taking it out of rotation would only move its load to ' +
          'replicas on the same database); 503 when the database is unreachable.',
        tags: ['health'],
        response: {
          200: readinessSchema.describe('The database answers or is busy; the cache may be degraded.'),
          503: readinessSchema.describe('The database is unreachable.'),
          ...problemResponses(),
        },
      },
    },
    async (_request, reply) => {
      const started = performance.now();
      const database = await withTimeout(app.database.ping(), DATABASE_PING_TIMEOUT_MS).then(
        () => 'ok' as const,
        // Waiting behind a full pool is overload; failing otherwise is an outage.
        (error: unknown) =>
          (error instanceof PingTimeout && app.database.load.saturated) || asBusyError(error)
            ? ('busy' as const)
            : ('unavailable' as const),
      );
      const latencyMs = Math.round((performance.now() - started) * 100) / 100;
      const cacheStatus = await app.cache.health();
      const status =
        database !== 'ok' ? database : cacheStatus === 'ok' ? ('ok' as const) : ('degraded' as const);
      if (database === 'unavailable') reply.header('retry-after', '5');
      return reply.code(database === 'unavailable' ? 503 : 200).send({
        status,
        checks: {
          database: {
            status: database,
            mode: app.database.mode,
            latencyMs,
            waiting: app.database.load.waiting,
          },
          cache: { status: cacheStatus, kind: app.cache.kind },
        },
      });
    },
  );
};

class PingTimeout extends Error {
  constructor(milliseconds: number) {
    super(`timed out after ${milliseconds} ms`);
  }
}

function withTimeout<T>(promise: Promise<T>, milliseconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new PingTimeout(milliseconds)), milliseconds);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
