import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Database, ImportError } from '../db/database.ts';
import type { ImportBatchQueue } from '../jobs/import-queue.ts';
import {
  areImportBatchesWritten,
  insertImport,
  markImportFailed,
  markImportRead,
  recordReaderProgress,
} from '../repositories/imports.repository.ts';
import {
  dropItemEmbeddingsIndexIfEmpty,
  ensureItemEmbeddingsIndex,
} from '../repositories/vector-index.repository.ts';
import { BatchOrder } from './batch-order.ts';
import { type BatchContext, finalizeImportIfDone, type ImportBatch } from './import-batch.ts';
import { type ImportKind, type ImportRecord, toImportRecord } from './import-records.ts';
import type { Mapping } from './mapping.ts';
import { type ImportFormat, readRecords } from './record-reader.ts';

export const IMPORT_MODES = ['upsert', 'sync'] as const;
export type ImportMode = (typeof IMPORT_MODES)[number];
/** How many rejected records an import keeps, with line and reason; the counts cover all of them. */
export const MAX_REPORTED_ERRORS = 100;
/** About how many ids the reader remembers to order batches that share ids (see BatchOrder). */
const ORDERED_IDS = 100_000;

export interface ImportRequest {
  kind: ImportKind;
  format: ImportFormat;
  mode: ImportMode;
  mapping?: Mapping | undefined;
  /** The mapping as given, kept with the import for the record. */
  mappingSpec?: unknown;
  maxDeletePercent?: number | undefined;
  force?: boolean | undefined;
  /** A file name, "stdin" or "http". */
  source: string;
}

export function newImportId(): string {
  return `imp_${randomBytes(12).toString('base64url')}`;
}

export async function createImport(db: Kysely<Database>, request: ImportRequest): Promise<string> {
  if (request.mode === 'sync' && request.kind === 'events')
    throw new Error('sync mode is for items and users');
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

/**
 * Reads an import's source to the end: each record is validated, good ones are grouped into numbered
 * batches for the queue, bad ones are counted and the first MAX_REPORTED_ERRORS kept with line and
 * reason. Progress is written as it goes. A stream that breaks (truncated gzip, malformed JSON array, a
 * client that hangs up) fails the import; batches already handed over still complete.
 */
export async function readImport(
  deps: {
    db: Kysely<Database>;
    queue: ImportBatchQueue;
    batchSize: number;
    onImportEnded?: BatchContext['onImportEnded'];
  },
  importId: string,
  request: ImportRequest,
  input: Readable,
): Promise<void> {
  const { db, queue, batchSize } = deps;
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
  const flush = async () => {
    if (records.length === 0) return;
    const batch: ImportBatch = {
      importId,
      batchNo: batchNo++,
      kind: request.kind,
      sync: request.mode === 'sync',
      records,
    };
    records = [];
    if (order) {
      const { after, forgotten } = order.add(
        batch.batchNo,
        batch.records.map((record) => record.id),
      );
      batch.after = after;
      // A later batch could hold one of its ids without knowing it: it must be written first.
      if (forgotten !== undefined)
        while (!(await areImportBatchesWritten(db, importId, [forgotten])))
          await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await recordReaderProgress(db, importId, { received, rejected, errors });
    await queue.submit(batch);
  };
  try {
    for await (const source of readRecords(input, request.format)) {
      received++;
      const result =
        source.error === undefined
          ? toImportRecord(request.kind, request.format, request.mapping, source.line, source.value)
          : { error: { line: source.line, reason: source.error } };
      if ('error' in result) {
        rejected++;
        if (errors.length < MAX_REPORTED_ERRORS) errors.push(result.error);
        continue;
      }
      records.push(result.record);
      if (records.length >= batchSize) await flush();
    }
    await flush();
  } catch (error) {
    await recordReaderProgress(db, importId, { received, rejected, errors });
    await markImportFailed(db, importId, `reading the source failed: ${(error as Error).message}`);
    if (request.kind === 'items') await ensureItemEmbeddingsIndex(db);
    return;
  }
  await recordReaderProgress(db, importId, { received, rejected, errors });
  await markImportRead(db, importId, batchNo);
  const ended = await finalizeImportIfDone(db, importId);
  if (ended) deps.onImportEnded?.(ended);
}
