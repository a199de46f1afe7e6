import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/**
 * The app's Prometheus metrics. Each app has its own registry, so several apps in one process (tests) never
 * collide. Made before the plugins, so that the cache and later the import and embedding code can feed them.
 */
export interface AppMetrics {
  readonly registry: Registry;
  readonly requestDuration: Histogram<'method' | 'route' | 'status'>;
  readonly cacheOperations: Counter<'operation' | 'result'>;
  readonly importRows: Counter<'kind' | 'outcome'>;
  readonly embeddingCalls: Counter<'provider' | 'outcome'>;
  readonly embeddingTokens: Counter<'provider'>;
  readonly embeddedItems: Counter<'provider'>;
  readonly llmCalls: Counter<'purpose' | 'outcome'>;
  readonly llmTokens: Counter<'purpose' | 'kind'>;
  readonly llmDuration: Histogram<'purpose' | 'outcome'>;
  readonly llmFallbacks: Counter<'purpose' | 'reason'>;
  readonly busyResponses: Counter<'reason'>;
}

export function createAppMetrics(): AppMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'marquee_' });
  const requestDuration = new Histogram({
    name: 'marquee_http_request_duration_seconds',
    help: 'HTTP request latency by route and status.',
    labelNames: ['method', 'route', 'status'],
    // From 5 ms to 5 s: page loads care about tens of milliseconds.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return {
    registry,
    requestDuration,
    cacheOperations: new Counter({
      name: 'marquee_cache_operations_total',
      help: 'Cache operations: reads by result (hit, miss), writes and deletions.',
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
    embeddingTokens: new Counter({
      name: 'marquee_embedding_tokens_total',
      help: 'Tokens sent to the embedding provider, as it counted them.',
      labelNames: ['provider'],
      registers: [registry],
    }),
    embeddedItems: new Counter({
      name: 'marquee_embedded_items_total',
      help: 'Item embeddings computed and stored.',
      labelNames: ['provider'],
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
    llmDuration: new Histogram({
      name: 'marquee_llm_call_duration_seconds',
      help: 'LLM call latency, by purpose and outcome.',
      labelNames: ['purpose', 'outcome'],
      buckets: [0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    llmFallbacks: new Counter({
      name: 'marquee_llm_fallbacks_total',
      help: 'Answers written without the LLM (templates, the rule-based parser), by purpose and reason.',
      labelNames: ['purpose', 'reason'],
      registers: [registry],
    }),
    busyResponses: new Counter({
      name: 'marquee_busy_responses_total',
      help:
        'Requests answered 503 busy (overload, not an outage), by reason: database-queue (shed at arrival or a ' +
        'connection wait timed out), statement-timeout, handler-timeout.',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}
