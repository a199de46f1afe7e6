import type { Kysely } from 'kysely';
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { Database } from '../db/database.ts';
import { findImportState } from '../repositories/imports.repository.ts';
import {
  type BatchContext,
  type ImportBatch,
  processImportBatch,
  recordFailedBatch,
  waitForPreviousBatch,
} from '../ingest/import-batch.ts';

/** What a queue knows of some batches of an import (see ImportBatchQueue.inspect). */
export interface BatchesInQueue {
  /** Still to run, or running. */
  live: number[];
  /** Failed for good, with their records, in case their failure was never recorded (its worker died). */
  failed: ImportBatch[];
}

/** Where an import's batches go: processed in this process (embedded) or by BullMQ workers (served). */
export interface ImportBatchQueue {
  /**
   * Hands a batch over; resolves when there is room for the next (back-pressure on the reader), or rejects
   * with the signal's reason when it aborts first.
   */
  submit(batch: ImportBatch, options?: { signal?: AbortSignal | undefined }): Promise<void>;
  /** Which of these batches of an import the queue still holds (for the sweeper); the others are not queued. */
  inspect(importId: string, batchNos: readonly number[]): Promise<BatchesInQueue>;
  close(): Promise<void>;
}

export const BATCH_ATTEMPTS = 5;
const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

/**
 * Runs a batch with retries (exponential backoff with jitter); after the last attempt the batch is recorded
 * as failed so that the import still ends, with the reason in its errors.
 */
export async function runBatchWithRetries(
  context: BatchContext,
  batch: ImportBatch,
  logger: Logger | undefined,
  attempts = BATCH_ATTEMPTS,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await processImportBatch(context, batch);
      return;
    } catch (error) {
      if (attempt >= attempts) {
        logger?.error(
          { err: error, importId: batch.importId, batchNo: batch.batchNo },
          'import batch failed',
        );
        await recordFailedBatch(context.db, batch, error, attempts, context.onImportEnded);
        return;
      }
      await sleep(Math.min(10_000, 200 * 2 ** attempt) * (0.5 + Math.random() / 2));
    }
  }
}

/**
 * The embedded mode's queue: up to `concurrency` batches at once on this process, so that one batch's
 * embedding (a network wait with the openai embedder) overlaps another's writes (PGlite runs one statement at
 * a time anyway); batches still write in file order. At most `maxPending` wait, so a reader never runs far
 * ahead of the writes.
 */
export function createInProcessImportQueue(
  context: BatchContext,
  logger?: Logger,
  { concurrency = 2, maxPending = 2 }: { concurrency?: number; maxPending?: number } = {},
): ImportBatchQueue {
  const running = new Set<Promise<void>>();
  const waiting: ImportBatch[] = [];
  const roomWaiters: (() => void)[] = [];
  // The batch numbers of each import that are waiting or running here.
  const held = new Map<string, Set<number>>();
  const release = (batch: ImportBatch) => {
    const numbers = held.get(batch.importId);
    numbers?.delete(batch.batchNo);
    if (numbers?.size === 0) held.delete(batch.importId);
  };
  const startNext = () => {
    while (running.size < concurrency && waiting.length > 0) {
      const batch = waiting.shift() as ImportBatch;
      roomWaiters.shift()?.();
      const run = (async () => {
        await waitForPreviousBatch(context.db, batch, { timeoutMs: Number.POSITIVE_INFINITY });
        await runBatchWithRetries(context, batch, logger);
      })()
        .catch((error: unknown) =>
          logger?.error({ err: error, importId: batch.importId }, 'import batch failed'),
        )
        .finally(() => {
          release(batch);
          running.delete(run);
          startNext();
        });
      running.add(run);
    }
  };
  const roomFor = (signal: AbortSignal | undefined) =>
    new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const index = roomWaiters.indexOf(wake);
        if (index !== -1) roomWaiters.splice(index, 1);
        reject(signal?.reason as Error);
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      roomWaiters.push(wake);
    });
  return {
    async submit(batch, { signal } = {}) {
      while (waiting.length >= maxPending) await roomFor(signal);
      signal?.throwIfAborted();
      let numbers = held.get(batch.importId);
      if (!numbers) held.set(batch.importId, (numbers = new Set()));
      numbers.add(batch.batchNo);
      waiting.push(batch);
      startNext();
    },
    async inspect(importId, batchNos) {
      const numbers = held.get(importId);
      return { live: batchNos.filter((batchNo) => numbers?.has(batchNo)), failed: [] };
    },
    async close() {
      while (running.size > 0 || waiting.length > 0) await Promise.all([...running]);
    },
  };
}

/** Waits until the import has ended (completed or failed), polling its row. */
export async function waitForImportEnd(
  db: Kysely<Database>,
  importId: string,
  { signal, intervalMs = 100 }: { signal?: AbortSignal; intervalMs?: number } = {},
): Promise<void> {
  for (;;) {
    signal?.throwIfAborted();
    const status = await findImportState(db, importId);
    if (status === undefined || status === 'completed' || status === 'failed') return;
    await sleep(intervalMs);
  }
}
