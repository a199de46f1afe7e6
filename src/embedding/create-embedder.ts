import type { Config } from '../config.ts';
import type { AppMetrics } from '../metrics.ts';
import type { Embedder } from './embedder.ts';
import type { ItemTextPolicy } from './item-text.ts';
import { createLocalEmbedder } from './local-embedder.ts';
import { createOpenAiEmbedder } from './openai-embedder.ts';

/** The embedder the configuration names: `local` (offline, the default) or `openai` (any compatible server). */
export async function createEmbedder(config: Config, metrics?: AppMetrics): Promise<Embedder> {
  const { embedding } = config;
  const space = { provider: embedding.provider, model: embedding.model, dimension: embedding.dimension };
  if (embedding.provider === 'local') return createLocalEmbedder(space);
  return createOpenAiEmbedder({
    space,
    apiKey: config.openai.apiKey,
    baseUrl: config.openai.baseUrl,
    batchSize: embedding.batchSize,
    batchTokens: embedding.batchTokens,
    concurrency: embedding.concurrency,
    timeoutMs: embedding.timeoutMs,
    maxRetries: embedding.maxRetries,
    metrics: metrics && { calls: metrics.embeddingCalls, tokens: metrics.embeddingTokens },
  });
}

/** How items become embedding text under this configuration: its embedding space and fields. */
export function itemTextPolicy(config: Config): ItemTextPolicy {
  const { embedding } = config;
  return {
    space: { provider: embedding.provider, model: embedding.model, dimension: embedding.dimension },
    fields: embedding.fields,
  };
}
