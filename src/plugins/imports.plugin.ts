import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Readable } from 'node:stream';
import type { Config } from '../config.ts';
import { embedPendingItems } from '../embedding/embed-pending.ts';
import type { BatchContext } from '../ingest/import-batch.ts';
import type { ProfileSettings } from '../services/profiles.service.ts';
import {
  createImport,
  type ImportRequest,
  ImportTooLargeError,
  readImport,
} from '../ingest/import-runner.ts';
import {
  createBullmqImportQueue,
  type ImportWorker,
  startImportWorker,
} from '../jobs/bullmq-import-queue.ts';
import { createInProcessImportQueue, type ImportBatchQueue } from '../jobs/import-queue.ts';
import { startImportSweeper } from '../jobs/import-sweeper.ts';

declare module 'fastify' {
  interface FastifyInstance {
    imports: ImportService;
  }
}

export interface ImportService {
  /**
   * Creates an import and reads its source to the end (batches may still be running when it resolves).
   * Rejects with ImportTooLargeError, after failing the import, when the source passes MARQUEE_IMPORT_MAX_BYTES.
   */
  run(request: ImportRequest, input: Readable, onCreated?: (importId: string) => void): Promise<string>;
}

/**
 * Bulk imports: the queue their batches go to, the reader that feeds it, and the sweeper that makes every
 * import end. Embedded, batches run in this process; with Redis they are BullMQ jobs for `marquee worker`
 * processes, and this process runs `jobs.apiConcurrency` of them too (0 leaves them all to the workers).
 */
export const importsPlugin = fp(
  async (
    app: FastifyInstance,
    options: {
      batchSize: number;
      /** MARQUEE_IMPORT_MAX_BYTES, MARQUEE_IMPORT_MAX_RECORD_BYTES, MARQUEE_IMPORT_STALL_SECONDS. */
      imports: Config['imports'];
      jobs: Config['jobs'];
      redis: Config['redis'];
      /** How the profiles of an events import's users are refreshed. */
      profiles: ProfileSettings;
      /** Called when this process ends an import (its reader, its worker or its sweeper ran the last step). */
      onImportEnded?: BatchContext['onImportEnded'];
      /** Called when the sweeper has embedded items that imports had left pending. */
      onItemsEmbedded?: () => void;
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
    // The imports this process is reading: the sweeper leaves them to their reader.
    const reading = new Set<string>();
    const sweeper = startImportSweeper({
      db: app.db,
      queue,
      stallSeconds: options.imports.stallSeconds,
      isReading: (importId) => reading.has(importId),
      embedPending: async (signal) => {
        const stored = await embedPendingItems(app.db, await app.embedding.embedder(), app.embedding.policy, {
          signal,
        });
        if (stored > 0) options.onItemsEmbedded?.();
        return stored;
      },
      onImportEnded: options.onImportEnded,
      logger: app.log,
    });
    app.decorate('imports', {
      async run(request, input, onCreated) {
        const importId = await createImport(app.db, request);
        reading.add(importId);
        onCreated?.(importId);
        try {
          const outcome = await readImport(
            {
              db: app.db,
              queue,
              batchSize: options.batchSize,
              limits: options.imports,
              stallSeconds: options.imports.stallSeconds,
              // An upload is cut off when it goes silent; a file or a pipe is waited on.
              watchInput: request.source === 'http',
              logger: app.log,
              onImportEnded: options.onImportEnded,
            },
            importId,
            request,
            input,
          );
          if (outcome.status === 'failed' && outcome.tooLarge)
            throw new ImportTooLargeError(importId, outcome.tooLarge.maxBytes, outcome.failure);
        } finally {
          reading.delete(importId);
        }
        return importId;
      },
    } satisfies ImportService);
    app.addHook('onClose', async () => {
      await sweeper.close();
      await worker?.close();
      await queue.close();
    });
  },
  { name: 'imports', dependencies: ['database', 'embedding'] },
);
