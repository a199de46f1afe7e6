import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.ts';
import { createEmbedder, itemTextPolicy } from '../embedding/create-embedder.ts';
import { embedPendingItems } from '../embedding/embed-pending.ts';
import type { Embedder } from '../embedding/embedder.ts';
import type { ItemTextPolicy } from '../embedding/item-text.ts';

declare module 'fastify' {
  interface FastifyInstance {
    embedding: EmbeddingService;
  }
}

export interface EmbeddingService {
  /** How items become embedding text here (fields and embedding space). */
  readonly policy: ItemTextPolicy;
  /** The embedder, created on first use (the local one loads its word vectors then). */
  embedder(): Promise<Embedder>;
  /** Embeds pending items in the background soon; calls while a run is going coalesce into one more run. */
  schedule(): void;
  /** Resolves when no background run is going or scheduled (tests, shutdown). */
  idle(): Promise<void>;
}

/**
 * The embedding client of the API process. Item writes mark items as needing embedding (their text hash
 * changes); this plugin embeds them soon after, in the background, one run at a time. Whatever a crash
 * leaves pending is picked up by the next run, here or in a worker.
 */
export const embeddingPlugin = fp(
  async (app: FastifyInstance, options: { config: Config; embedder?: Embedder }) => {
    const policy = itemTextPolicy(options.config);
    let embedderPromise: Promise<Embedder> | undefined =
      options.embedder && Promise.resolve(options.embedder);
    const embedder = () => {
      embedderPromise ??= createEmbedder(options.config, app.metrics);
      embedderPromise.catch(() => (embedderPromise = undefined));
      return embedderPromise;
    };
    let running: Promise<void> | undefined;
    let again = false;
    let closing = false;
    const run = async () => {
      do {
        again = false;
        try {
          const stored = await embedPendingItems(app.db, await embedder(), policy);
          if (stored > 0) {
            app.metrics.embeddedItems.inc({ provider: policy.space.provider }, stored);
            // Newly embedded items can now be recommended by content: this process holds their vectors
            // before anything else is answered (other processes within a second), cached pages are stale.
            await app.recommender.model?.refresh();
            await app.pageCache.invalidateCatalog();
          }
        } catch (error) {
          app.log.warn({ err: error }, 'background embedding failed; the items stay pending');
        }
      } while (again && !closing);
    };
    const service: EmbeddingService = {
      policy,
      embedder,
      schedule() {
        if (closing) return;
        if (running) {
          again = true;
          return;
        }
        running = run().finally(() => (running = undefined));
      },
      async idle() {
        while (running) await running;
      },
    };
    app.decorate('embedding', service);
    app.addHook('onClose', async () => {
      closing = true;
      await service.idle();
    });
  },
  { name: 'embedding', dependencies: ['database', 'metrics', 'recommender'] },
);
