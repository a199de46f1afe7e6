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

/** Where an import's batches go: processed in this process (embedded) or by BullMQ workers (served). */
export interface ImportBatchQueue {
  /** Hands a batch over; resolves when there is room for the next (back-pressure on the reader). */
  submit(batch: ImportBatch): Promise<void>;
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
        await recordFailedBatch(
          context.db,
          batch,
          `batch failed after ${attempts} attempts: ${(error as Error).message}`,
          context.onImportEnded,
        );
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
  const startNext = () => {
    while (running.size < concurrency && waiting.length > 0) {
      const batch = waiting.shift() as ImportBatch;
      roomWaiters.shift()?.();
      const run = (async () => {
        await waitForPreviousBatch(context.db, batch, { timeoutMs: Number.POSITIVE_INFINITY });
        await runBatchWithRetries(context, batch, logger);
      })()
        .catch((error: unknown) => logger?.error({ err: error }, 'import batch failed'))
        .finally(() => {
          running.delete(run);
          startNext();
        });
      running.add(run);
    }
  };
  return {
    async submit(batch) {
      while (waiting.length >= maxPending) await new Promise<void>((resolve) => roomWaiters.push(resolve));
      waiting.push(batch);
      startNext();
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
