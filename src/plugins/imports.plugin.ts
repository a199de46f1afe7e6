import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.ts';
import type { BatchContext } from '../ingest/import-batch.ts';
import { createImportService, type ImportService } from '../ingest/import-service.ts';
import type { ProfileSettings } from '../services/profiles.service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    imports: ImportService;
  }
}

/** Bulk imports in the API process: the import service on the app's database and embedder. */
export const importsPlugin = fp(
  async (
    app: FastifyInstance,
    options: {
      batchSize: number;
      eventBatchSize: number;
      imports: Config['imports'];
      jobs: Config['jobs'];
      redis: Config['redis'];
      profiles: ProfileSettings;
      onImportEnded?: BatchContext['onImportEnded'];
      onItemsEmbedded?: () => void;
    },
  ) => {
    const service = createImportService({
      db: app.db,
      policy: app.embedding.policy,
      embedder: () => app.embedding.embedder(),
      batchSize: options.batchSize,
      eventBatchSize: options.eventBatchSize,
      limits: options.imports,
      jobs: options.jobs,
      redis: options.redis,
      profiles: options.profiles,
      logger: app.log,
      onImportEnded: options.onImportEnded,
      onItemsEmbedded: options.onItemsEmbedded,
    });
    app.decorate('imports', service);
    app.addHook('onClose', () => service.close());
  },
  { name: 'imports', dependencies: ['database', 'embedding'] },
);
