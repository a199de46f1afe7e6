import { hostname } from 'node:os';
import { DelayedError, type Job, Queue, Worker } from 'bullmq';
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { TrainingOutcome, TrainingTrigger } from '../services/model-training.service.ts';
import { bullmqOptions, type RedisSettings } from './bullmq-import-queue.ts';
import { closeWorkerWithin } from './close-worker.ts';

/** The BullMQ queue model trainings go to; keys under MARQUEE_REDIS_PREFIX + "bull:", like imports. */
export const MODEL_QUEUE_NAME = 'models';
/** Every request (from any process's training scheduler, an erasure...) shares this id: they coalesce. */
const REQUEST_DEDUPLICATION_ID = 'models-requested';
// A requested training that found another one running (it may have read the events before the import
// ended) tries again this much later, without spending an attempt.
const BUSY_RETRY_MS = 15_000;
const KEEP = { removeOnComplete: { age: 24 * 3_600, count: 100 }, removeOnFail: { age: 7 * 24 * 3_600 } };

export type ModelJobData = TrainingTrigger;

export interface ModelTrainingQueue {
  /**
   * Asks a worker for a training soon. Requests made while one is waiting join it; requests made while one
   * runs make exactly one more, after it (BullMQ deduplication with keepLastIfActive).
   */
  request(trigger: TrainingTrigger): Promise<void>;
  close(): Promise<void>;
}

export function createModelTrainingQueue(
  redis: RedisSettings,
  logger?: Pick<Logger, 'warn'>,
): ModelTrainingQueue {
  const queue = new Queue<ModelJobData>(MODEL_QUEUE_NAME, bullmqOptions(redis));
  // Without a listener BullMQ prints every failed reconnection to the console.
  queue.on('error', (error) => logger?.warn({ err: error }, 'model queue: Redis error (it reconnects)'));
  return {
    async request(trigger) {
      await queue.add('train', trigger, {
        deduplication: { id: REQUEST_DEDUPLICATION_ID, keepLastIfActive: true },
        // A worker shutting down stops its training (which fails the job): another one takes it later.
        attempts: 3,
        backoff: { type: 'exponential', delay: 30_000 },
        ...KEEP,
      });
    },
    async close() {
      await queue.close();
    },
  };
}

export interface ModelTrainingWorker {
  close(): Promise<void>;
}

/**
 * Runs training jobs, one at a time per process. A training that finds another process training goes back
 * to the queue for later (that one may have read the events before this request); one that finds nothing to
 * do is done.
 */
export function startModelTrainingWorker(options: {
  train: (trigger: TrainingTrigger) => Promise<TrainingOutcome>;
  redis: RedisSettings;
  lockMs: number;
  logger: Logger;
}): ModelTrainingWorker {
  const { logger } = options;
  const worker = new Worker<ModelJobData, TrainingOutcome>(
    MODEL_QUEUE_NAME,
    async (job: Job<ModelJobData>, token?: string) => {
      const { reason, startedDuringWrites, skipIfCovered } = job.data;
      const outcome = await options.train({
        reason,
        ...(startedDuringWrites !== undefined && { startedDuringWrites }),
        ...(skipIfCovered !== undefined && { skipIfCovered }),
      });
      // A job of the periodic "refresh" scheduler of versions before issue 18 needs no retry.
      if (outcome.skipped && outcome.busy && job.name !== 'refresh') {
        await job.moveToDelayed(Date.now() + BUSY_RETRY_MS, token);
        throw new DelayedError();
      }
      return outcome;
    },
    {
      ...bullmqOptions(options.redis),
      name: `${hostname()}:${process.pid}`,
      concurrency: 1,
      // The compute phase runs on a thread of its own: this process renews the job's lock meanwhile.
      lockDuration: options.lockMs,
      stalledInterval: options.lockMs,
    },
  );
  worker.on('completed', (job, outcome) => {
    logger.info(
      { reason: job.data.reason, ...outcome },
      outcome.skipped ? 'model training skipped' : 'models trained',
    );
  });
  worker.on('failed', (job, error) => {
    logger.warn({ err: error, reason: job?.data.reason }, 'model training failed');
  });
  worker.on('error', (error) => {
    logger.warn({ err: error }, 'model worker: Redis error (it reconnects)');
  });
  return {
    async close() {
      await closeWorkerWithin(worker, logger, 'model worker');
    },
  };
}
