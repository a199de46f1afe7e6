import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { LlmConfig } from '../config.ts';
import type { LanguageModel } from '../llm/language-model.ts';
import { createLlmGuards, createOpenAiLanguageModel } from '../llm/openai-language-model.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The language models, or undefined when none is configured (templates and the rule-based parser). */
    llm: { explain: LanguageModel; chat: LanguageModel } | undefined;
  }
}

/**
 * The LLM client: one model for explanations and one for chat (they may differ: a small fast model writes
 * explanations within a page's budget), sharing one bulkhead and circuit breaker, since they share a provider.
 */
export const llmPlugin = fp(
  async (app: FastifyInstance, options: { config: LlmConfig | undefined }) => {
    const { config } = options;
    if (!config) {
      app.decorate('llm', undefined);
      return;
    }
    const guards = createLlmGuards(config);
    const model = (name: string) =>
      createOpenAiLanguageModel({ config, model: name, cache: app.cache, metrics: app.metrics, guards });
    app.decorate('llm', { explain: model(config.explainModel), chat: model(config.chatModel) });
  },
  { name: 'llm', dependencies: ['cache', 'metrics'] },
);
