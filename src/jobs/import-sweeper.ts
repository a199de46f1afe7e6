import type { FastifyBaseLogger as Logger } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import { type BatchContext, finalizeImportIfDone, recordFailedBatch } from '../ingest/import-batch.ts';
import {
  areImportBatchesWritten,
  claimImportsToSweep,
  findUnfinishedBatches,
  finishBatchWithoutEmbeddings,
  markImportFailed,
  restoreEmbeddingsPending,
  type StalledImport,
  takeEmbeddingsPending,
} from '../repositories/imports.repository.ts';
import { ensureItemEmbeddingsIndex } from '../repositories/vector-index.repository.ts';
import { BATCH_ATTEMPTS, type ImportBatchQueue } from './import-queue.ts';

/** Stalled imports one sweep takes at most; the next sweep takes the rest. */
const IMPORTS_PER_SWEEP = 10;

export interface ImportSweeper {
  /** One sweep now (the timer runs them every period). */
  sweep(): Promise<void>;
  /** Stops the timer and waits for a sweep that is running; a catch-up embedding run is told to stop. */
  close(): Promise<void>;
}

export interface ImportSweeperOptions {
  db: Kysely<Database>;
  /** This process's queue: which batches still have a job (BullMQ's state is shared by every process). */
  queue: ImportBatchQueue;
  /** MARQUEE_IMPORT_STALL_SECONDS. */
  stallSeconds: number;
  /** Whether this process is reading that import now. */
  isReading: (importId: string) => boolean;
  /** Embeds every item left pending; resolves with how many it stored. Without it, the sweeper never embeds. */
  embedPending?: ((signal: AbortSignal) => Promise<number>) | undefined;
  onImportEnded?: BatchContext['onImportEnded'];
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Between two sweeps; by default a quarter of the stall period, between 1 and 60 s. */
  periodMs?: number;
}

/**
 * Makes every import end. Each period one indexed query claims the imports that have not moved for the stall
 * period (the claim also pushes them a period ahead, so sweepers in several processes never take the same one)
 * and says whether some import left embeddings pending. For each stalled import:
 *
 * - receiving, with a reader that is neither here nor heard of for the stall period: its process died; the
 *   import is failed.
 * - otherwise its unfinished batches are looked up in the queue: one still queued or running is waited for; one
 *   whose job failed for good without being recorded is recorded; one written whose job is gone is finished
 *   with its items left pending; one never written whose job is gone is lost, and fails the import. A
 *   processing import is then ended if it can be.
 *
 * Items left pending (an embedder that kept failing) are embedded in the background by a later sweep.
 */
export function startImportSweeper(options: ImportSweeperOptions): ImportSweeper {
  const { db, queue, stallSeconds, logger } = options;
  const periodMs = options.periodMs ?? Math.min(60_000, Math.max(1_000, stallSeconds * 250));
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;
  let catchingUp: Promise<void> | undefined;

  const failImport = async (stalled: StalledImport, failure: string) => {
    if (!(await markImportFailed(db, stalled.id, failure))) return;
    logger.warn({ importId: stalled.id, failure }, 'import sweeper: failed a stalled import');
    // An items import into an empty catalog dropped the vector index: it must not end without it.
    if (stalled.kind === 'items') await ensureItemEmbeddingsIndex(db);
    options.onImportEnded?.({
      importId: stalled.id,
      kind: stalled.kind as 'items' | 'users' | 'events',
      status: 'failed',
    });
  };

  const sweepImport = async (stalled: StalledImport) => {
    const readerHere = options.isReading(stalled.id);
    if (stalled.status === 'receiving' && !readerHere && stalled.readerGone) {
      await failImport(
        stalled,
        `the upload stopped: the process receiving it has been gone for ${stallSeconds} s ` +
          '(MARQUEE_IMPORT_STALL_SECONDS); the batches it had handed over were kept',
      );
      return;
    }
    const submitted =
      stalled.status === 'processing' ? (stalled.batchesTotal ?? 0) : stalled.batchesSubmitted;
    const { written, missing } = await findUnfinishedBatches(db, stalled.id, submitted);
    if (written.length + missing.length > 0) {
      const { live, failed } = await queue.inspect(stalled.id, [...written, ...missing]);
      const accounted = new Set(live);
      for (const batch of failed) {
        accounted.add(batch.batchNo);
        await recordFailedBatch(
          db,
          batch,
          new Error('its job failed'),
          BATCH_ATTEMPTS,
          options.onImportEnded,
        );
      }
      for (const batchNo of written.filter((number) => !accounted.has(number)))
        if (
          await finishBatchWithoutEmbeddings(db, stalled.id, batchNo, {
            line: 0,
            reason:
              `batch ${batchNo}: stored but not embedded (its job was lost); ` +
              'the items stay pending and are embedded later',
          })
        )
          logger.warn(
            { importId: stalled.id, batchNo },
            'import sweeper: finished a batch whose job was lost',
          );
      const lost: number[] = [];
      for (const batchNo of missing.filter((number) => !accounted.has(number)))
        // Written since it was looked up? Then its job ran after all.
        if (!(await areImportBatchesWritten(db, stalled.id, [batchNo]))) lost.push(batchNo);
      if (lost.length > 0) {
        await failImport(
          stalled,
          `${lost.length} batch${lost.length === 1 ? ' was' : 'es were'} lost before being written ` +
            `(${lost
              .slice(0, 5)
              .map((batchNo) => `batch ${batchNo}`)
              .join(
                ', ',
              )}${lost.length > 5 ? ', ...' : ''}): their jobs are gone; the other batches were kept`,
        );
        return;
      }
    }
    if (stalled.status === 'processing') {
      // Also when nothing was unfinished: the process that finished the last batch may have died before this.
      const ended = await finalizeImportIfDone(db, stalled.id);
      if (ended) options.onImportEnded?.(ended);
    }
  };

  const catchUp = async (embedPending: (signal: AbortSignal) => Promise<number>) => {
    const taken = await takeEmbeddingsPending(db);
    if (taken.length === 0) return;
    try {
      const stored = await embedPending(stopping.signal);
      logger.info({ imports: taken, stored }, 'import sweeper: embedded the items imports had left pending');
    } catch (error) {
      await restoreEmbeddingsPending(db, taken);
      logger.warn({ err: error }, 'import sweeper: embedding pending items failed; the next sweep retries');
    }
  };

  const sweep = async () => {
    const { stalled, embeddingsPending } = await claimImportsToSweep(db, stallSeconds, IMPORTS_PER_SWEEP);
    for (const one of stalled)
      await sweepImport(one).catch((error: unknown) =>
        logger.error({ err: error, importId: one.id }, 'import sweeper: could not sweep an import'),
      );
    const { embedPending } = options;
    if (embeddingsPending && embedPending && !catchingUp && !stopping.signal.aborted)
      catchingUp = catchUp(embedPending)
        .catch((error: unknown) => logger.warn({ err: error }, 'import sweeper: catch-up embedding failed'))
        .finally(() => (catchingUp = undefined));
  };

  const schedule = () => {
    timer = setTimeout(() => {
      sweeping = sweep()
        .catch((error: unknown) => logger.warn({ err: error }, 'import sweeper: sweep failed'))
        .finally(() => {
          sweeping = undefined;
          if (!stopping.signal.aborted) schedule();
        });
    }, periodMs);
    // The sweeper never keeps a process alive on its own.
    timer.unref();
  };
  schedule();

  return {
    sweep,
    async close() {
      stopping.abort(new Error('the import sweeper is closing'));
      clearTimeout(timer);
      await sweeping;
      await catchingUp;
    },
  };
}
