import { hostname } from 'node:os';
import { DelayedError, type Job, Queue, Worker } from 'bullmq';
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import {
  type BatchContext,
  type ImportBatch,
  processImportBatch,
  recordFailedBatch,
  waitForPreviousBatch,
} from '../ingest/import-batch.ts';
import { countFinishedBatches } from '../repositories/imports.repository.ts';
import { closeWorkerWithin } from './close-worker.ts';
import { BATCH_ATTEMPTS, type ImportBatchQueue } from './import-queue.ts';

/** The BullMQ queue import batches go to; its Redis keys start with MARQUEE_REDIS_PREFIX + "bull:". */
export const IMPORT_QUEUE_NAME = 'imports';

export interface RedisSettings {
  url: string;
  keyPrefix: string;
}

// BullMQ's blocking connections must retry forever (maxRetriesPerRequest null): a Redis restart pauses the
// workers instead of failing their jobs.
export const bullmqOptions = (redis: RedisSettings) => ({
  connection: { url: redis.url, maxRetriesPerRequest: null },
  prefix: `${redis.keyPrefix}bull`,
});

/** A batch's job id: adding the same batch twice (a reader retrying) is a no-op in BullMQ. */
const jobIdOf = (batch: Pick<ImportBatch, 'importId' | 'batchNo'>) => `${batch.importId}.${batch.batchNo}`;
const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

/**
 * The served mode's queue: each batch becomes a BullMQ job that any worker (a `marquee worker` process, or an
 * API process with MARQUEE_API_JOB_CONCURRENCY > 0) may run. The reader waits while more than
 * `maxQueuedBatches` of its batches are unfinished, so Redis never holds more than that much of a file.
 */
export function createBullmqImportQueue(options: {
  db: Kysely<Database>;
  redis: RedisSettings;
  maxQueuedBatches: number;
  pollMs?: number;
  logger?: Pick<Logger, 'warn'>;
}): ImportBatchQueue {
  const queue = new Queue<ImportBatch>(IMPORT_QUEUE_NAME, {
    ...bullmqOptions(options.redis),
    defaultJobOptions: {
      attempts: BATCH_ATTEMPTS,
      backoff: { type: 'exponential', delay: 500, jitter: 0.5 },
      // Done jobs are only kept briefly, for inspection; the import's rows in Postgres are the record.
      removeOnComplete: { age: 3_600, count: 1_000 },
      removeOnFail: { age: 7 * 24 * 3_600 },
    },
  });
  // Without a listener BullMQ prints every failed reconnection to the console.
  queue.on('error', (error) =>
    options.logger?.warn({ err: error }, 'import queue: Redis error (it reconnects)'),
  );
  const pollMs = options.pollMs ?? 50;
  return {
    async submit(batch, { signal } = {}) {
      await queue.add('batch', batch, { jobId: jobIdOf(batch) });
      const submitted = batch.batchNo + 1;
      while (
        submitted - (await countFinishedBatches(options.db, batch.importId)) >=
        options.maxQueuedBatches
      ) {
        signal?.throwIfAborted();
        await sleep(pollMs);
      }
    },
    async inspect(importId, batchNos) {
      const live: number[] = [];
      const failed: ImportBatch[] = [];
      for (const batchNo of batchNos) {
        const job = await queue.getJob(jobIdOf({ importId, batchNo }));
        const state = job ? await job.getState() : 'unknown';
        if (job && state === 'failed') failed.push(job.data);
        // A completed job has finished its batch; unknown: never added, or removed.
        else if (state !== 'completed' && state !== 'unknown') live.push(batchNo);
      }
      return { live, failed };
    },
    async close() {
      await queue.close();
    },
  };
}

export interface ImportWorker {
  /** Stops taking jobs and waits for the running ones to end. */
  close(): Promise<void>;
}

/**
 * Runs import batch jobs from Redis. Delivery is at least once (a worker that dies holding a job loses its
 * lock, and after `lockMs` the job goes back to the queue); processImportBatch is idempotent, so the effect
 * is exactly once. A batch that fails all its attempts, or stalls too often, is recorded as failed so that
 * its import still ends.
 */
export function startImportWorker(options: {
  context: BatchContext;
  redis: RedisSettings;
  concurrency: number;
  lockMs: number;
  logger: Logger;
}): ImportWorker {
  const { context, logger } = options;
  const worker = new Worker<ImportBatch>(
    IMPORT_QUEUE_NAME,
    async (job: Job<ImportBatch>, token?: string) => {
      // Waiting too long would hold a slot that the previous batch may need (it could be waiting for a
      // retry): step aside, without spending an attempt, and come back shortly.
      if (!(await waitForPreviousBatch(context.db, job.data, { timeoutMs: 2_000 }))) {
        await job.moveToDelayed(Date.now() + 250, token);
        throw new DelayedError();
      }
      await processImportBatch(context, job.data);
    },
    {
      ...bullmqOptions(options.redis),
      name: `${hostname()}:${process.pid}`,
      concurrency: options.concurrency,
      lockDuration: options.lockMs,
      stalledInterval: options.lockMs,
      // A job whose worker died this many times is failed: it probably kills workers (out of memory).
      maxStalledCount: 5,
    },
  );
  worker.on('completed', (job) => {
    logger.info({ importId: job.data.importId, batchNo: job.data.batchNo }, 'import batch done');
  });
  worker.on('failed', (job, error) => {
    if (!job) return;
    const batch = job.data;
    const final = job.attemptsMade >= (job.opts.attempts ?? 1) || /stalled/i.test(error.message);
    logger.warn(
      { err: error, importId: batch.importId, batchNo: batch.batchNo, attempt: job.attemptsMade, final },
      final ? 'import batch failed' : 'import batch failed; it will be retried',
    );
    if (!final) return;
    recordFailedBatch(context.db, batch, error, job.attemptsMade, context.onImportEnded).catch(
      (recordError: unknown) => {
        // The sweeper records it later (the job stays in the failed set with its records).
        logger.error({ err: recordError, importId: batch.importId }, 'could not record a failed batch');
      },
    );
  });
  worker.on('stalled', (jobId) => {
    logger.warn({ jobId }, 'an import batch lost its worker; it goes back to the queue');
  });
  worker.on('error', (error) => {
    logger.warn({ err: error }, 'import worker: Redis error (it reconnects)');
  });
  return {
    async close() {
      await closeWorkerWithin(worker, logger, 'import worker');
    },
  };
}
