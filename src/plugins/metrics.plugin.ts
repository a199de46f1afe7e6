import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Gauge } from 'prom-client';
import { z } from 'zod';
import { requireScope } from '../auth/access.ts';
import type { AppMetrics } from '../metrics.ts';
import { problemResponses } from '../schemas/problem.schema.ts';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: AppMetrics;
  }
}

/**
 * Prometheus metrics at GET /metrics (admin scope): request rate and latency per route and status, cache hits
 * and misses, database pool, and the counters later features fill (imports, embedding and LLM calls). The
 * metrics themselves are made by createAppMetrics(), one registry per app.
 */
export const metricsPlugin = fp(
  async (app: FastifyInstance, options: { metrics: AppMetrics }) => {
    const { metrics } = options;
    const { registry } = metrics;
    const pool = app.database.pool;
    if (pool) {
      new Gauge({
        name: 'marquee_db_pool_connections',
        help: 'Database pool connections by state.',
        labelNames: ['state'],
        registers: [registry],
        collect() {
          this.set({ state: 'total' }, pool.totalCount);
          this.set({ state: 'idle' }, pool.idleCount);
          this.set({ state: 'waiting' }, pool.waitingCount);
        },
      });
    }
    const { load } = app.database;
    new Gauge({
      name: 'marquee_db_waiting_requests',
      help: 'Queries and transactions of this process waiting for a database connection (pool or embedded session).',
      registers: [registry],
      collect() {
        this.set(load.waiting);
      },
    });
    app.decorate('metrics', metrics);

    app.addHook('onResponse', async (request, reply) => {
      // The route pattern, not the URL: ids in paths would explode the label set.
      const route = request.routeOptions.url ?? 'unmatched';
      metrics.requestDuration.observe(
        { method: request.method, route, status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });

    app.get(
      '/metrics',
      {
        config: { access: requireScope('admin'), shedWhenBusy: false },
        schema: {
          operationId: 'getMetrics',
          summary: 'Prometheus metrics',
          description:
            'Request rates and latencies per route and status, cache hits and misses, database pool, imports, ' +
            'embedding and LLM calls and tokens, and process figures, in the Prometheus text format.',
          tags: ['health'],
          produces: ['text/plain'],
          response: {
            200: z.string().describe('Prometheus text exposition format.'),
            ...problemResponses(),
          },
        },
      },
      async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
    );
  },
  { name: 'metrics', dependencies: ['database', 'auth'] },
);
