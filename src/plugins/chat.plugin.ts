import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { type ChatStrategies, OFFLINE_CHAT_STRATEGIES } from '../chat/chat-strategies.ts';
import { TYPE_WORDS } from '../chat/chat-vocabulary.ts';
import { createLlmChatStrategies } from '../chat/llm-chat.ts';
import { findTitlesAmong } from '../repositories/items.repository.ts';
import { type CatalogVocabularyCache, createCatalogVocabularyCache } from '../services/chat.service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    chat: ChatSetup;
  }
}

export interface ChatSetup {
  /** Who parses messages and writes replies (src/chat/chat-strategies.ts). */
  readonly strategies: ChatStrategies;
  /** The catalog's genres and languages, read at most once a minute. */
  readonly vocabulary: CatalogVocabularyCache;
  readonly sessionTtlHours: number;
}

/**
 * The chat's strategies and shared state. The parser and reply writer are the LLM's when a model is
 * configured, the offline ones (rules and templates) otherwise; `strategies` (tests) replaces either.
 */
export const chatPlugin = fp(
  async (
    app: FastifyInstance,
    options: {
      sessionTtlHours: number;
      /** Time the LLM strategies have per call. */
      budgetMs: number;
      strategies?: Partial<ChatStrategies> | undefined;
    },
  ) => {
    const vocabulary = createCatalogVocabularyCache();
    const model = app.llm?.chat;
    const llmStrategies =
      model &&
      createLlmChatStrategies({
        model,
        budgetMs: options.budgetMs,
        vocabulary: async () => ({
          genres: (await vocabulary(app.db)).genres.map((genre) => genre.label),
          types: [...new Set(Object.values(TYPE_WORDS))],
        }),
        findTitles: (lowerTitles) => findTitlesAmong(app.db, lowerTitles),
      });
    app.decorate('chat', {
      strategies: { ...OFFLINE_CHAT_STRATEGIES, ...llmStrategies, ...options.strategies },
      vocabulary,
      sessionTtlHours: options.sessionTtlHours,
    });
  },
  { name: 'chat', dependencies: ['database', 'llm'] },
);
