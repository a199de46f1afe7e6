import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database, ImportError } from '../db/database.ts';
import type { ImportBatchQueue } from '../jobs/import-queue.ts';
import {
  areImportBatchesWritten,
  insertImport,
  markImportFailed,
  markImportRead,
  recordReaderProgress,
  touchImportReader,
} from '../repositories/imports.repository.ts';
import {
  dropItemEmbeddingsIndexIfEmpty,
  ensureItemEmbeddingsIndex,
} from '../repositories/vector-index.repository.ts';
import { BatchOrder } from './batch-order.ts';
import { type BatchContext, finalizeImportIfDone, type ImportBatch } from './import-batch.ts';
import type { ImportOptions } from './import-options.ts';
import { type ImportRecord, toImportRecord } from './import-records.ts';
import { type ReadLimits, readRecordBatches, SourceTooLargeError } from './record-reader.ts';

/** How many rejected records an import keeps, with line and reason; the counts cover all of them. */
export const MAX_REPORTED_ERRORS = 100;
/** About how many ids the reader remembers to order batches that share ids (see BatchOrder). */
const ORDERED_IDS = 100_000;

/** An import's checked options (checkImportOptions) and where its source comes from. */
export interface ImportRequest extends ImportOptions {
  /** A file name, "stdin" or "http". */
  source: string;
}

export function newImportId(): string {
  return `imp_${randomBytes(12).toString('base64url')}`;
}

export async function createImport(db: Kysely<Database>, request: ImportRequest): Promise<string> {
  if (request.mode !== 'upsert' && request.kind === 'events')
    throw new Error(`${request.mode} mode is for items and users (checkImportOptions says so first)`);
  const id = newImportId();
  await insertImport(db, {
    id,
    kind: request.kind,
    format: request.format,
    mode: request.mode,
    source: request.source,
    options: {
      ...(request.mappingSpec === undefined ? {} : { mapping: request.mappingSpec }),
      ...(request.maxDeletePercent === undefined ? {} : { maxDeletePercent: request.maxDeletePercent }),
      ...(request.force ? { force: true } : {}),
    },
  });
  return id;
}

/** How reading ended: read to the end, or failed (the import is marked failed with `failure`). */
export type ReadOutcome =
  { status: 'read' } | { status: 'failed'; failure: string; tooLarge?: { maxBytes: number } | undefined };

/** An import stopped at MARQUEE_IMPORT_MAX_BYTES: it is failed, and the batches before the limit are kept. */
export class ImportTooLargeError extends Error {
  readonly importId: string;
  readonly maxBytes: number;

  constructor(importId: string, maxBytes: number, failure: string) {
    super(failure);
    this.name = 'ImportTooLargeError';
    this.importId = importId;
    this.maxBytes = maxBytes;
  }
}

/** The upload stopped before its end: the client went away, or sent nothing for too long. */
class UploadStoppedError extends Error {}
/** The import was ended by someone else (a sweeper that found its reader silent): the reader stops. */
class ImportEndedElsewhereError extends Error {}
/** Storing what was read failed (the database, the queue): the cause is for the log, not the client. */
class StoreError extends Error {}

/** Errors a reading stream raises when its client hangs up (Node's HTTP server, stream.pipeline). */
const HANG_UP_CODES = new Set(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'ECONNABORTED', 'EPIPE']);

export interface ReaderDeps {
  db: Kysely<Database>;
  queue: ImportBatchQueue;
  /** Records per batch (MARQUEE_IMPORT_BATCH_SIZE); events: MARQUEE_IMPORT_EVENT_BATCH_SIZE. */
  batchSize: number;
  eventBatchSize: number;
  /** MARQUEE_IMPORT_MAX_BYTES and MARQUEE_IMPORT_MAX_RECORD_BYTES. */
  limits: ReadLimits;
  /**
   * MARQUEE_IMPORT_STALL_SECONDS: the reader says it is alive a few times in that span (for the sweeper), and
   * with `watchInput` an input that sends nothing for that long while the reader waits on it fails the import.
   */
  stallSeconds: number;
  /** For uploads: a client that goes silent is cut off. A file or a pipe is waited on. */
  watchInput?: boolean | undefined;
  logger?: Pick<FastifyBaseLogger, 'error' | 'warn'> | undefined;
  onImportEnded?: BatchContext['onImportEnded'];
}

/**
 * Reads an import's source to the end: each record is validated, good ones are grouped into numbered
 * batches for the queue, bad ones are counted and the first MAX_REPORTED_ERRORS kept with line and
 * reason. Progress is written as it goes, and the reader tells the database it is alive, so that a sweeper
 * can tell a dead reader from a slow one. A source that cannot be read to its end (truncated gzip, malformed
 * JSON array, past MARQUEE_IMPORT_MAX_BYTES, a client that hangs up or goes silent) fails the import with
 * the reason; batches already handed over still complete.
 */
export async function readImport(
  deps: ReaderDeps,
  importId: string,
  request: ImportRequest,
  input: Readable,
): Promise<ReadOutcome> {
  const { db, queue } = deps;
  const batchSize = request.kind === 'events' ? deps.eventBatchSize : deps.batchSize;
  const stallMs = deps.stallSeconds * 1000;
  // Loading a catalog into an empty table without the HNSW index and building it once at the end
  // (finalizeImportIfDone) is faster than maintaining the index row by row; see vector-index.repository.ts.
  if (request.kind === 'items') await dropItemEmbeddingsIndexIfEmpty(db);
  let received = 0;
  let rejected = 0;
  const errors: ImportError[] = [];
  let batchNo = 0;
  let records: ImportRecord[] = [];
  // Events are never overwritten, so their batches need no order.
  const order =
    request.kind === 'events' ? undefined : new BatchOrder(Math.max(8, Math.ceil(ORDERED_IDS / batchSize)));

  // Stops the reader from outside its loop, even while it waits on the queue: the upload ending early, a silent
  // client, the import ended by a sweeper.
  const stop = new AbortController();
  let bytesIn = 0;
  let lastInputAt = Date.now();
  // Handing a batch over (waiting on the queue): time spent so is not the client's silence.
  let storing = false;
  const onClose = () => {
    if (!input.readableEnded)
      stop.abort(
        new UploadStoppedError(
          `the upload stopped before the end (the connection closed after ${bytesIn} bytes)`,
        ),
      );
  };
  input.once('close', onClose);
  const alive = setInterval(
    () => {
      if (deps.watchInput && !storing && Date.now() - lastInputAt > stallMs) {
        const silence = new UploadStoppedError(
          `the upload stopped: no data arrived for ${deps.stallSeconds} s (MARQUEE_IMPORT_STALL_SECONDS)`,
        );
        stop.abort(silence);
        input.destroy(silence);
      }
      touchImportReader(db, importId).then(
        (status) => {
          if (status !== undefined && status !== 'receiving')
            stop.abort(new ImportEndedElsewhereError(`the import is ${status}`));
        },
        (error: unknown) => deps.logger?.warn({ err: error, importId }, 'import reader: heartbeat failed'),
      );
    },
    Math.max(1_000, Math.floor(stallMs / 3)),
  );

  const flush = async () => {
    if (records.length === 0) return;
    storing = true;
    try {
      const batch: ImportBatch = {
        importId,
        batchNo: batchNo++,
        kind: request.kind,
        sync: request.mode === 'sync',
        merge: request.mode === 'upsert',
        records,
      };
      records = [];
      if (order) {
        const { after, forgotten } = order.add(
          batch.batchNo,
          batch.records.map((record) => record.id),
        );
        batch.after = after;
        // A later batch could hold one of its ids without knowing it: it must be written first. (Should that
        // batch be lost, the sweeper fails the import and the heartbeat stops this wait.)
        if (forgotten !== undefined)
          while (!(await areImportBatchesWritten(db, importId, [forgotten]))) {
            stop.signal.throwIfAborted();
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
      }
      await recordReaderProgress(db, importId, {
        received,
        rejected,
        errors,
        batchesSubmitted: batch.batchNo,
      });
      await queue.submit(batch, { signal: stop.signal });
    } catch (error) {
      if (stop.signal.aborted && error === stop.signal.reason) throw error;
      throw new StoreError('storing a batch failed', { cause: error });
    } finally {
      storing = false;
      lastInputAt = Date.now();
    }
  };

  let failure: Extract<ReadOutcome, { status: 'failed' }> | undefined;
  let endedElsewhere = false;
  try {
    const chunks = readRecordBatches(input, request.format, deps.limits, {
      onInput: (bytes) => {
        bytesIn += bytes;
        lastInputAt = Date.now();
      },
    });
    for await (const sources of chunks) {
      stop.signal.throwIfAborted();
      for (const source of sources) {
        received++;
        const result =
          source.error === undefined
            ? validated(request, source.line, source.value)
            : { error: { line: source.line, reason: source.error } };
        if ('error' in result) {
          rejected++;
          if (errors.length < MAX_REPORTED_ERRORS) errors.push(result.error);
          continue;
        }
        records.push(result.record);
        if (records.length >= batchSize) await flush();
      }
    }
    await flush();
  } catch (caught) {
    // The client hanging up shows as a stream error too; the abort says it better.
    const error = stop.signal.aborted ? (stop.signal.reason as Error) : caught;
    endedElsewhere = error instanceof ImportEndedElsewhereError;
    failure = { status: 'failed', failure: describeReadFailure(error, bytesIn) };
    if (error instanceof SourceTooLargeError) failure.tooLarge = { maxBytes: error.maxBytes };
    if (error instanceof StoreError || !(error instanceof Error))
      deps.logger?.error({ err: error, importId }, 'import reader: storing failed');
  } finally {
    clearInterval(alive);
    input.off('close', onClose);
  }
  if (failure) {
    try {
      await recordReaderProgress(db, importId, { received, rejected, errors, batchesSubmitted: batchNo });
      if (!endedElsewhere) await markImportFailed(db, importId, failure.failure);
      if (request.kind === 'items') await ensureItemEmbeddingsIndex(db);
    } catch (error) {
      // The reader no longer says it is alive: the sweeper fails the import.
      deps.logger?.error({ err: error, importId }, 'import reader: could not record its failure');
    }
    return failure;
  }
  await recordReaderProgress(db, importId, { received, rejected, errors, batchesSubmitted: batchNo });
  await markImportRead(db, importId, batchNo);
  const ended = await finalizeImportIfDone(db, importId);
  if (ended) deps.onImportEnded?.(ended);
  return { status: 'read' };
}

/** A source record validated into an import record, or its error (never a throw: one record, one line). */
function validated(
  request: ImportRequest,
  line: number,
  value: Record<string, unknown>,
): ReturnType<typeof toImportRecord> {
  try {
    return toImportRecord(request, line, value);
  } catch {
    // A bug or a pathological value (nesting deep enough to exhaust the stack): this record only.
    return { error: { line, reason: 'could not be validated' } };
  }
}

/** The failure an import is marked with, in words for its client: never a database's error text. */
function describeReadFailure(error: unknown, bytesIn: number): string {
  if (error instanceof SourceTooLargeError)
    return `${error.message}: reading stopped there; the batches before the limit were kept`;
  if (error instanceof UploadStoppedError || error instanceof ImportEndedElsewhereError) return error.message;
  if (error instanceof StoreError || !(error instanceof Error))
    return 'the import stopped on a server error (the server log has the cause)';
  const code = (error as { code?: unknown }).code;
  if ((typeof code === 'string' && HANG_UP_CODES.has(code)) || error.message === 'aborted')
    return `the upload stopped before the end (the connection closed after ${bytesIn} bytes)`;
  return `reading the source failed: ${error.message}`;
}
