import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { z } from 'zod';
import { publicAccess } from '../auth/access.ts';
import { problemResponses } from '../schemas/problem.schema.ts';

// A readiness probe must answer even when the database hangs: give up on it after this long.
const DATABASE_PING_TIMEOUT_MS = 2_000;

const dependencyStatus = z.enum(['ok', 'degraded', 'unavailable']);

const readinessSchema = z
  .object({
    status: dependencyStatus.describe(
      'unavailable when the database cannot be reached; degraded when the cache cannot.',
    ),
    checks: z.object({
      database: z.object({
        status: dependencyStatus,
        mode: z.enum(['embedded', 'postgres']),
        latencyMs: z.number().describe('Round-trip time of the check query.'),
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
          database: { status: 'ok', mode: 'embedded', latencyMs: 0.4 },
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
      config: { access: publicAccess, rateLimit: false },
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
      config: { access: publicAccess, rateLimit: false },
      schema: {
        operationId: 'getReadiness',
        summary: 'Readiness',
        description:
          'Checks the database and the cache. 200 when the database answers (the cache may be degraded: ' +
          'requests then run uncached); 503 when the database is unreachable.',
        tags: ['health'],
        response: {
          200: readinessSchema.describe('The database answers; the cache may be degraded.'),
          503: readinessSchema.describe('The database is unreachable.'),
          ...problemResponses(),
        },
      },
    },
    async (_request, reply) => {
      const started = performance.now();
      const databaseOk = await withTimeout(app.database.ping(), DATABASE_PING_TIMEOUT_MS).then(
        () => true,
        () => false,
      );
      const latencyMs = Math.round((performance.now() - started) * 100) / 100;
      const cacheStatus = await app.cache.health();
      const status = !databaseOk ? 'unavailable' : cacheStatus === 'ok' ? 'ok' : 'degraded';
      if (!databaseOk) reply.header('retry-after', '5');
      return reply.code(databaseOk ? 200 : 503).send({
        status,
        checks: {
          database: { status: databaseOk ? 'ok' : 'unavailable', mode: app.database.mode, latencyMs },
          cache: { status: cacheStatus, kind: app.cache.kind },
        },
      });
    },
  );
};

function withTimeout<T>(promise: Promise<T>, milliseconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${milliseconds} ms`)), milliseconds);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
