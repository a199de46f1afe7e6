import type { FastifyBaseLogger as Logger } from 'fastify';
import type { Kysely } from 'kysely';
import type { Readable } from 'node:stream';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { embedPendingItems } from '../embedding/embed-pending.ts';
import type { Embedder } from '../embedding/embedder.ts';
import type { ItemTextPolicy } from '../embedding/item-text.ts';
import {
  createBullmqImportQueue,
  type ImportWorker,
  startImportWorker,
} from '../jobs/bullmq-import-queue.ts';
import { createInProcessImportQueue, type ImportBatchQueue } from '../jobs/import-queue.ts';
import { startImportSweeper } from '../jobs/import-sweeper.ts';
import type { ProfileSettings } from '../services/profiles.service.ts';
import type { BatchContext } from './import-batch.ts';
import { createImport, type ImportRequest, ImportTooLargeError, readImport } from './import-runner.ts';

export interface ImportService {
  /**
   * Creates an import and reads its source to the end (batches may still be running when it resolves).
   * Rejects with ImportTooLargeError, after failing the import, when the source passes MARQUEE_IMPORT_MAX_BYTES.
   */
  run(request: ImportRequest, input: Readable, onCreated?: (importId: string) => void): Promise<string>;
  /** Stops the sweeper, the worker and the queue (batches in flight finish first). */
  close(): Promise<void>;
}

export interface ImportServiceDependencies {
  db: Kysely<Database>;
  policy: ItemTextPolicy;
  embedder: () => Promise<Embedder>;
  batchSize: number;
  eventBatchSize: number;
  /** MARQUEE_IMPORT_MAX_BYTES, MARQUEE_IMPORT_MAX_RECORD_BYTES, MARQUEE_IMPORT_STALL_SECONDS. */
  limits: Config['imports'];
  jobs: Config['jobs'];
  redis: Config['redis'];
  /** How the profiles of an events import's users are refreshed. */
  profiles: ProfileSettings;
  logger: Logger;
  /** Called when this process ends an import (its reader, its worker or its sweeper ran the last step). */
  onImportEnded?: BatchContext['onImportEnded'];
  /** Called when the sweeper has embedded items that imports had left pending. */
  onItemsEmbedded?: () => void;
}

/**
 * Bulk imports, whatever process runs them (the API, `marquee import`): the queue their batches go to, the
 * reader that feeds it, and the sweeper that makes every import end. Embedded, batches run in this process;
 * with Redis they are BullMQ jobs for `marquee worker` processes, and this process runs `jobs.apiConcurrency`
 * of them too (0 leaves them all to the workers).
 */
export function createImportService(deps: ImportServiceDependencies): ImportService {
  const { db, logger } = deps;
  const context: BatchContext = {
    db,
    policy: deps.policy,
    embedder: deps.embedder,
    profiles: deps.profiles,
    logger,
    onImportEnded: deps.onImportEnded,
  };
  let queue: ImportBatchQueue;
  let worker: ImportWorker | undefined;
  if (deps.redis) {
    queue = createBullmqImportQueue({
      db,
      redis: deps.redis,
      maxQueuedBatches: deps.jobs.maxQueuedBatches,
      logger,
    });
    if (deps.jobs.apiConcurrency > 0)
      worker = startImportWorker({
        context,
        redis: deps.redis,
        concurrency: deps.jobs.apiConcurrency,
        lockMs: deps.jobs.lockMs,
        logger,
      });
  } else {
    queue = createInProcessImportQueue(context, logger);
  }
  // The imports this process is reading: the sweeper leaves them to their reader.
  const reading = new Set<string>();
  const sweeper = startImportSweeper({
    db,
    queue,
    stallSeconds: deps.limits.stallSeconds,
    isReading: (importId) => reading.has(importId),
    embedPending: async (signal) => {
      const stored = await embedPendingItems(db, await deps.embedder(), deps.policy, { signal });
      if (stored > 0) deps.onItemsEmbedded?.();
      return stored;
    },
    onImportEnded: deps.onImportEnded,
    logger,
  });
  return {
    async run(request, input, onCreated) {
      const importId = await createImport(db, request);
      reading.add(importId);
      onCreated?.(importId);
      try {
        const outcome = await readImport(
          {
            db,
            queue,
            batchSize: deps.batchSize,
            eventBatchSize: deps.eventBatchSize,
            limits: deps.limits,
            stallSeconds: deps.limits.stallSeconds,
            // An upload is cut off when it goes silent; a file or a pipe is waited on.
            watchInput: request.source === 'http',
            logger,
            onImportEnded: deps.onImportEnded,
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
    async close() {
      await sweeper.close();
      await worker?.close();
      await queue.close();
    },
  };
}
