import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { z } from 'zod';
import { requireScope } from '../auth/access.ts';
import { problemResponses } from '../schemas/problem.schema.ts';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: AppMetrics;
  }
}

export interface AppMetrics {
  readonly registry: Registry;
  readonly cacheOperations: Counter<'operation' | 'result'>;
  readonly importRows: Counter<'kind' | 'outcome'>;
  readonly embeddingCalls: Counter<'provider' | 'outcome'>;
  readonly llmCalls: Counter<'purpose' | 'outcome'>;
  readonly llmTokens: Counter<'purpose' | 'kind'>;
}

/**
 * Prometheus metrics at GET /metrics (admin scope): request rate and latency per route and status, cache hits
 * and misses, database pool, and the counters later features fill (imports, embedding and LLM calls). Each
 * app has its own registry, so several apps in one process (tests) never collide.
 */
export const metricsPlugin = fp(
  async (app: FastifyInstance) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'marquee_' });
    const requests = new Histogram({
      name: 'marquee_http_request_duration_seconds',
      help: 'HTTP request latency by route and status.',
      labelNames: ['method', 'route', 'status'],
      // From 5 ms to 5 s: page loads care about tens of milliseconds.
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    const metrics: AppMetrics = {
      registry,
      cacheOperations: new Counter({
        name: 'marquee_cache_operations_total',
        help: 'Cache reads by result (hit, miss, error).',
        labelNames: ['operation', 'result'],
        registers: [registry],
      }),
      importRows: new Counter({
        name: 'marquee_import_rows_total',
        help: 'Rows processed by bulk imports, by kind and outcome.',
        labelNames: ['kind', 'outcome'],
        registers: [registry],
      }),
      embeddingCalls: new Counter({
        name: 'marquee_embedding_calls_total',
        help: 'Calls to the embedding provider, by outcome.',
        labelNames: ['provider', 'outcome'],
        registers: [registry],
      }),
      llmCalls: new Counter({
        name: 'marquee_llm_calls_total',
        help: 'Calls to the LLM provider, by purpose and outcome.',
        labelNames: ['purpose', 'outcome'],
        registers: [registry],
      }),
      llmTokens: new Counter({
        name: 'marquee_llm_tokens_total',
        help: 'Tokens used by LLM calls, by purpose and kind (prompt, completion).',
        labelNames: ['purpose', 'kind'],
        registers: [registry],
      }),
    };
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
    app.decorate('metrics', metrics);

    app.addHook('onResponse', async (request, reply) => {
      // The route pattern, not the URL: ids in paths would explode the label set.
      const route = request.routeOptions.url ?? 'unmatched';
      requests.observe(
        { method: request.method, route, status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });

    app.get(
      '/metrics',
      {
        config: { access: requireScope('admin') },
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
