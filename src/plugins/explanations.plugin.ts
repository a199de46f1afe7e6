import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.ts';
import { positiveEventTypes } from '../event-types.ts';
import type { ExplanationDependencies } from '../services/explanations.service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    explanations: ExplanationDependencies & {
      /** Time a page waits for LLM explanations. */
      budgetMs: number;
      /** Time an explain=async stream waits for them. */
      streamBudgetMs: number;
    };
  }
}

/** What the explanation service runs on: the database, the cache, the explanation model and settings. */
export const explanationsPlugin = fp(
  async (
    app: FastifyInstance,
    options: { settings: Config['explanations']; eventWeights: Config['recommender']['eventWeights'] },
  ) => {
    const { settings } = options;
    app.decorate('explanations', {
      db: app.db,
      cache: app.cache,
      llm: app.llm?.explain,
      metrics: app.metrics,
      settings: {
        cacheSeconds: settings.cacheSeconds,
        includeUserAttributes: settings.includeUserAttributes,
        positiveTypes: positiveEventTypes(options.eventWeights),
      },
      budgetMs: settings.budgetMs,
      streamBudgetMs: settings.streamBudgetMs,
    });
  },
  { name: 'explanations', dependencies: ['database', 'cache', 'metrics', 'llm'] },
);
