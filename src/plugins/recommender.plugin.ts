import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { RecommenderConfig } from '../config.ts';
import { createPageCache, type PageCache } from '../services/page-cache.ts';
import { startModelSnapshot } from '../services/model-snapshot.service.ts';
import type { RecommenderDeps } from '../services/recommendations.service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** What the recommendation services need: the database, settings, the page cache and the in-memory model. */
    recommender: RecommenderDeps;
    /** Cached pages: invalidate a user's after their events, everyone's after catalog or model changes. */
    pageCache: PageCache;
  }
}

/** The recommendation engine's dependencies, built once per app from the database and cache plugins. */
export const recommenderPlugin = fp(
  async (app: FastifyInstance, options: { recommender: RecommenderConfig; embeddingModel: string }) => {
    const pageCache = createPageCache(app.cache);
    app.decorate('pageCache', pageCache);
    const model = startModelSnapshot({
      db: app.db,
      memoryLimitBytes: options.recommender.modelMemoryBytes,
      logger: app.log,
      onNeighboursChanged: () => pageCache.invalidateCatalog(),
    });
    app.addHook('onClose', () => model.stop());
    app.decorate('recommender', {
      db: app.db,
      config: options.recommender,
      embeddingModel: options.embeddingModel,
      pageCache,
      model,
    });
  },
  { name: 'recommender', dependencies: ['database', 'cache'] },
);
