import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Readable } from 'node:stream';
import type { Config } from '../config.ts';
import type { BatchContext } from '../ingest/import-batch.ts';
import type { ProfileSettings } from '../services/profiles.service.ts';
import { createImport, type ImportRequest, readImport } from '../ingest/import-runner.ts';
import {
  createBullmqImportQueue,
  type ImportWorker,
  startImportWorker,
} from '../jobs/bullmq-import-queue.ts';
import { createInProcessImportQueue, type ImportBatchQueue } from '../jobs/import-queue.ts';

declare module 'fastify' {
  interface FastifyInstance {
    imports: ImportService;
  }
}

export interface ImportService {
  /** Creates an import and reads its source to the end (batches may still be running when it resolves). */
  run(request: ImportRequest, input: Readable, onCreated?: (importId: string) => void): Promise<string>;
}

/**
 * Bulk imports: the queue their batches go to, and the reader that feeds it. Embedded, batches run in this
 * process; with Redis they are BullMQ jobs for `marquee worker` processes, and this process runs
 * `jobs.apiConcurrency` of them too (0 leaves them all to the workers).
 */
export const importsPlugin = fp(
  async (
    app: FastifyInstance,
    options: {
      batchSize: number;
      jobs: Config['jobs'];
      redis: Config['redis'];
      /** How the profiles of an events import's users are refreshed. */
      profiles: ProfileSettings;
      /** Called when this process ends an import (its reader or its worker ran the last step). */
      onImportEnded?: BatchContext['onImportEnded'];
    },
  ) => {
    const context: BatchContext = {
      db: app.db,
      policy: app.embedding.policy,
      embedder: () => app.embedding.embedder(),
      profiles: options.profiles,
      logger: app.log,
      onImportEnded: options.onImportEnded,
    };
    let queue: ImportBatchQueue;
    let worker: ImportWorker | undefined;
    if (options.redis) {
      queue = createBullmqImportQueue({
        db: app.db,
        redis: options.redis,
        maxQueuedBatches: options.jobs.maxQueuedBatches,
        logger: app.log,
      });
      if (options.jobs.apiConcurrency > 0)
        worker = startImportWorker({
          context,
          redis: options.redis,
          concurrency: options.jobs.apiConcurrency,
          lockMs: options.jobs.lockMs,
          logger: app.log,
        });
    } else {
      queue = createInProcessImportQueue(context, app.log);
    }
    app.decorate('imports', {
      async run(request, input, onCreated) {
        const importId = await createImport(app.db, request);
        onCreated?.(importId);
        await readImport(
          { db: app.db, queue, batchSize: options.batchSize, onImportEnded: options.onImportEnded },
          importId,
          request,
          input,
        );
        return importId;
      },
    } satisfies ImportService);
    app.addHook('onClose', async () => {
      await worker?.close();
      await queue.close();
    });
  },
  { name: 'imports', dependencies: ['database', 'embedding'] },
);
