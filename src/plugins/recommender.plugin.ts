import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { RecommenderConfig } from '../config.ts';
import { createPageCache, type PageCache } from '../services/page-cache.ts';
import type { RecommenderDeps } from '../services/recommendations.service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** What the recommendation services need: the database, settings and the page cache. */
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
    app.decorate('recommender', {
      db: app.db,
      config: options.recommender,
      embeddingModel: options.embeddingModel,
      pageCache,
    });
  },
  { name: 'recommender', dependencies: ['database', 'cache'] },
);
