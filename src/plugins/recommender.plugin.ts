import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { RecommenderConfig } from '../config.ts';
import { createPageCache, type PageCache } from '../services/page-cache.ts';
import { startModelSnapshot } from '../services/model-snapshot.service.ts';
import { type SearchIndex, startSearchIndex } from '../services/search-index.service.ts';
import { createTopLists } from '../services/top-lists.ts';
import { type ItemCatalogService, startItemCatalog } from '../services/item-catalog.service.ts';
import type { RecommenderDeps } from '../services/recommendations.service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** What the recommendation services need: the database, settings, the page cache and the in-memory model. */
    recommender: RecommenderDeps;
    /** Cached pages: invalidate a user's after their events, everyone's after catalog or model changes. */
    pageCache: PageCache;
    /** The search documents as an in-memory inverted index (searches without filters rank there). */
    searchIndex: SearchIndex;
    /** Every item's catalog entry in memory (unfiltered pages check their candidates there). */
    itemCatalog: ItemCatalogService;
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
    const memoryLimitBytes = options.recommender.modelMemoryBytes;
    const modelLoaded = model.refresh();
    // What the model leaves of MARQUEE_MODEL_MEMORY_MB (it loads first), the catalog, then the search index.
    const modelBytes = () => model.heldBytes();
    const itemCatalog = startItemCatalog({
      db: app.db,
      memoryAvailableBytes: () => (memoryLimitBytes <= 0 ? 0 : memoryLimitBytes - modelBytes()),
      loadAfter: modelLoaded,
      logger: app.log,
    });
    app.addHook('onClose', () => itemCatalog.stop());
    app.decorate('itemCatalog', itemCatalog);
    const searchIndex = startSearchIndex({
      db: app.db,
      memoryAvailableBytes: () =>
        memoryLimitBytes <= 0 ? 0 : memoryLimitBytes - modelBytes() - itemCatalog.status().bytes,
      loadAfter: modelLoaded.then(
        () => itemCatalog.settled(),
        () => undefined,
      ),
      logger: app.log,
    });
    app.addHook('onClose', () => searchIndex.stop());
    app.decorate('searchIndex', searchIndex);
    app.decorate('recommender', {
      db: app.db,
      config: options.recommender,
      embeddingModel: options.embeddingModel,
      pageCache,
      model,
      topLists: createTopLists(app.db),
      catalog: itemCatalog,
    });
  },
  { name: 'recommender', dependencies: ['database', 'cache'] },
);
