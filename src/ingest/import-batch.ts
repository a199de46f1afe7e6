import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database, ImportError } from '../db/database.ts';
import type { Embedder } from '../embedding/embedder.ts';
import {
  embeddableFromInput,
  embeddableFromRow,
  type ItemTextPolicy,
  itemEmbeddingText,
  itemTextHash,
} from '../embedding/item-text.ts';
import {
  findItemHashesNeedingEmbedding,
  findItemsNeedingEmbedding,
  storeItemEmbeddings,
} from '../repositories/item-embeddings.repository.ts';
import {
  finishImportBatch,
  finishBatchWithoutEmbeddings,
  findImportState,
  forgetSeenIds,
  areImportBatchesWritten,
  type BatchCounts,
  claimImportBatch,
  countFinishedBatches,
  countTableRows,
  countUnseen,
  deleteRowsById,
  deleteUnseen,
  finishImport,
  lockImport,
  markImportFailed,
  recordImportBatch,
  recordSyncDeletions,
  rememberSeenIds,
  touchImportProgress,
  upsertItemsChanged,
  upsertUsersChanged,
} from '../repositories/imports.repository.ts';
import { analyzeItemTables, ensureItemEmbeddingsIndex } from '../repositories/vector-index.repository.ts';
import type { EventInput } from '../schemas/events.schema.ts';
import { jsonObjectSchema } from '../schemas/common.schema.ts';
import type { ItemInput } from '../schemas/items.schema.ts';
import { mergeItemPatch, toItemRow } from '../services/items.service.ts';
import { findItemsByIdsForUpdate } from '../repositories/items.repository.ts';
import { findUsersByIdsForUpdate } from '../repositories/users.repository.ts';
import { applyMergePatch } from './merge-patch.ts';
import { describeIssues } from './event-ingest.ts';
import { type ProfileSettings, refreshUserProfilesAfterWrite } from '../services/profiles.service.ts';
import { positiveEventTypes } from '../event-types.ts';
import { storeValidEvents } from './event-ingest.ts';
import type { ImportKind, ImportRecord } from './import-records.ts';

/** One job's worth of an import: validated records, numbered so that a retried batch is recognised. */
export interface ImportBatch {
  importId: string;
  batchNo: number;
  kind: ImportKind;
  sync: boolean;
  /**
   * Upsert mode: each record holds only the fields it sets, merged into the stored item or user. Absent in
   * batches queued by an earlier version, whose records are whole.
   */
  merge?: boolean;
  records: ImportRecord[];
  /**
   * The earlier batches that must be written before this one (they hold some of its ids; see BatchOrder).
   * Absent in batches queued by an earlier version: then the batch before it.
   */
  after?: number[];
}

export interface BatchContext {
  db: Kysely<Database>;
  policy: ItemTextPolicy;
  embedder: () => Promise<Embedder>;
  /**
   * How the profiles of an events batch's users are refreshed, and which events the item statistics count
   * (its event weights); without it neither happens.
   */
  profiles?: ProfileSettings | undefined;
  /** Where a failed profile refresh is reported. */
  logger?: FastifyBaseLogger | undefined;
  /** Called when this process ends an import (the models retrain after an events import). */
  onImportEnded?: ((ended: EndedImport) => void) | undefined;
}

/** An import that has just ended, whoever ended it (the reader or the last batch). */
export interface EndedImport {
  importId: string;
  kind: ImportKind;
  status: 'completed' | 'failed';
}

/** A batch's embedding step failed (its rows are written): the embedder's error is the cause. */
export class BatchEmbeddingError extends Error {
  constructor(cause: unknown) {
    super(`embedding failed: ${(cause as Error | undefined)?.message ?? String(cause)}`, { cause });
    this.name = 'BatchEmbeddingError';
  }
}

/** The last record for each id wins within a batch (one statement cannot write a row twice). */
function lastPerId(records: readonly ImportRecord[]): { kept: ImportRecord[]; superseded: number } {
  const byId = new Map<string, ImportRecord>();
  for (const record of records) {
    byId.delete(record.id);
    byId.set(record.id, record);
  }
  return { kept: [...byId.values()], superseded: records.length - byId.size };
}

/** What writing a batch did, and the whole items it wrote (what their embedding text is made of). */
interface WrittenBatch {
  counts: Omit<BatchCounts, 'embedded'>;
  errors: ImportError[];
  items: Map<string, ItemInput>;
}

async function writeBatch(
  trx: Kysely<Database>,
  policy: ItemTextPolicy,
  batch: ImportBatch,
  profiles: ProfileSettings | undefined,
): Promise<WrittenBatch> {
  const counts = { inserted: 0, updated: 0, unchanged: 0, deleted: 0, failed: 0 };
  const errors: ImportError[] = [];
  const items = new Map<string, ItemInput>();
  if (batch.kind === 'events') {
    const valid = batch.records.map((record, index) => ({
      index,
      event: (record as { data: unknown }).data as EventInput,
    }));
    const result = await storeValidEvents(trx, valid, {
      positiveTypes: positiveEventTypes(profiles?.recommender.eventWeights ?? {}),
    });
    counts.inserted = result.accepted;
    counts.unchanged = result.duplicates;
    counts.failed = result.rejected.length;
    for (const { index, problem } of result.rejected)
      errors.push({ line: batch.records[index]?.line ?? 0, reason: problem });
    return { counts, errors, items };
  }
  const { kept, superseded } = lastPerId(batch.records);
  counts.unchanged += superseded;
  const deletions = kept.filter((record) => record.op === 'delete').map((record) => record.id);
  const upserts = kept.filter((record): record is UpsertRecord => record.op === 'upsert');
  counts.deleted = await deleteRowsById(trx, batch.kind, deletions);
  counts.unchanged += deletions.length - counts.deleted;
  const whole = batch.merge
    ? await mergedRecords(trx, batch.kind, upserts)
    : { records: upserts, failures: [] };
  for (const failure of whole.failures) {
    counts.failed++;
    errors.push(failure);
  }
  const written =
    batch.kind === 'items'
      ? await upsertItemsChanged(
          trx,
          whole.records.map((record) => {
            items.set(record.id, record.data as ItemInput);
            return toItemRow(record.id, record.data as ItemInput, policy);
          }),
        )
      : await upsertUsersChanged(
          trx,
          whole.records.map((record) => ({
            id: record.id,
            attributes: JSON.stringify((record.data as { attributes: unknown }).attributes ?? {}),
          })),
        );
  counts.inserted = written.filter((row) => row.inserted).length;
  counts.updated = written.length - counts.inserted;
  counts.unchanged += whole.records.length - written.length;
  if (batch.sync)
    await rememberSeenIds(
      trx,
      batch.importId,
      upserts.map((record) => record.id),
    );
  return { counts, errors, items };
}

type UpsertRecord = Extract<ImportRecord, { op: 'upsert' }>;

/**
 * Upsert mode: each record's fields merged into what is stored (a merge patch: what it holds replaces, a null
 * clears, the rest is kept), then checked as a whole like a full write. A record that makes no valid whole
 * (a new item without a title) fails alone.
 */
async function mergedRecords(
  trx: Kysely<Database>,
  kind: 'items' | 'users',
  upserts: readonly UpsertRecord[],
): Promise<{ records: UpsertRecord[]; failures: ImportError[] }> {
  const records: UpsertRecord[] = [];
  const failures: ImportError[] = [];
  const ids = upserts.map((record) => record.id);
  if (kind === 'items') {
    const stored = new Map((await findItemsByIdsForUpdate(trx, ids)).map((row) => [row.id, row]));
    for (const record of upserts) {
      const merged = mergeItemPatch(stored.get(record.id), record.data);
      if (merged.success) records.push({ ...record, data: merged.data });
      else failures.push({ line: record.line, id: record.id, reason: describeIssues(merged.error.issues) });
    }
  } else {
    const stored = new Map((await findUsersByIdsForUpdate(trx, ids)).map((row) => [row.id, row.attributes]));
    for (const record of upserts) {
      const patch = (record.data as { attributes?: Record<string, unknown> | null }).attributes;
      const attributes = jsonObjectSchema().safeParse(
        patch === null ? {} : applyMergePatch(stored.get(record.id) ?? {}, patch ?? {}),
      );
      if (attributes.success) records.push({ ...record, data: { attributes: attributes.data } });
      else
        failures.push({
          line: record.line,
          id: record.id,
          reason: describeIssues(
            attributes.error.issues.map((issue) => ({ ...issue, path: ['attributes', ...issue.path] })),
          ),
        });
    }
  }
  return { records, failures };
}

/**
 * The batch's items that lack a current embedding, with the text to embed. The texts come from the whole items
 * the batch wrote (`written`, when this run wrote them; else its records, when they are whole), so the
 * database only sends ids and hashes back; an item whose text is not known here (a merge written by an earlier
 * run) or no longer the batch's (written since by someone else) is read back whole, like any pending item.
 */
async function findBatchItemsNeedingEmbedding(
  db: Kysely<Database>,
  policy: ItemTextPolicy,
  batch: ImportBatch,
  written: ReadonlyMap<string, ItemInput> | undefined,
): Promise<{ id: string; text: string; hash: string }[]> {
  const known = new Map<string, { text: string; hash: string }>();
  const ids: string[] = [];
  for (const record of lastPerId(batch.records).kept) {
    if (record.op !== 'upsert') continue;
    ids.push(record.id);
    const whole = written ? written.get(record.id) : batch.merge ? undefined : (record.data as ItemInput);
    if (!whole) continue;
    const item = embeddableFromInput(whole);
    known.set(record.id, { text: itemEmbeddingText(item, policy.fields), hash: itemTextHash(policy, item) });
  }
  const stale = await findItemHashesNeedingEmbedding(db, ids);
  const pending = stale.flatMap((item) => {
    const mine = known.get(item.id);
    return mine?.hash === item.embeddingTextHash ? [{ id: item.id, ...mine }] : [];
  });
  const changed = stale.filter((item) => known.get(item.id)?.hash !== item.embeddingTextHash);
  if (changed.length === 0) return pending;
  const rows = await findItemsNeedingEmbedding(
    db,
    changed.length,
    changed.map((item) => item.id),
  );
  return [
    ...pending,
    ...rows.map((row) => ({
      id: row.id,
      text: itemEmbeddingText(embeddableFromRow(row), policy.fields),
      hash: row.embedding_text_hash,
    })),
  ];
}

/**
 * Applies one batch exactly once: the batch is claimed, written and counted in one transaction, so a batch
 * that is retried after its transaction committed does nothing; one retried after a crash before the commit
 * starts over. Embedding follows the commit and is idempotent by content hash, so a crash between the two
 * only leaves items pending, which the retry (or any later run) embeds.
 */
export async function processImportBatch(context: BatchContext, batch: ImportBatch): Promise<void> {
  const { db, policy } = context;
  let written: Map<string, ItemInput> | undefined;
  await db.transaction().execute(async (trx) => {
    if (!(await claimImportBatch(trx, batch.importId, batch.batchNo))) return;
    const { counts, errors, items } = await writeBatch(trx, policy, batch, context.profiles);
    await recordImportBatch(trx, batch.importId, batch.batchNo, counts, errors);
    written = items;
  });
  // Before the batch is finished, so that an ended import has its users' profiles up to date; also when the
  // batch was written by an earlier run, which may have died before this. Never fails the batch.
  if (batch.kind === 'events' && context.profiles)
    await refreshUserProfilesAfterWrite(
      db,
      context.profiles,
      batch.records.flatMap((record) => ('data' in record ? [(record.data as EventInput).userId] : [])),
      context.logger,
    );
  const pending =
    batch.kind === 'items' ? await findBatchItemsNeedingEmbedding(db, policy, batch, written) : [];
  let vectors: Float32Array[] = [];
  if (pending.length > 0)
    try {
      vectors = await (await context.embedder()).embed(pending.map((item) => item.text));
    } catch (error) {
      throw new BatchEmbeddingError(error);
    }
  await db.transaction().execute(async (trx) => {
    await storeItemEmbeddings(
      trx,
      policy.space,
      pending.map((item, index) => ({
        itemId: item.id,
        embedding: vectors[index] ?? new Float32Array(policy.space.dimension),
        contentHash: item.hash,
      })),
    );
    await finishImportBatch(trx, batch.importId, batch.batchNo, embeddableIds(batch));
  });
  await touchImportProgress(db, batch.importId);
  // Also when this batch was already done: its first run may have died before finalizing.
  const ended = await finalizeImportIfDone(db, batch.importId);
  if (ended) context.onImportEnded?.(ended);
}

/** The ids of a batch's items that it embeds (the upserts of an items batch). */
function embeddableIds(batch: ImportBatch): string[] {
  if (batch.kind !== 'items') return [];
  return lastPerId(batch.records).kept.flatMap((record) => (record.op === 'upsert' ? [record.id] : []));
}

/**
 * Records a batch that could not be applied after all its attempts, so that the import still ends. A batch
 * that was never written is counted as failed; one whose rows were written by an earlier attempt (its
 * embedding kept failing) is finished with its items left pending, for a later run to embed. The reasons
 * never quote the error: it may be the database's, which is for the log (the callers log it), not the client.
 */
export async function recordFailedBatch(
  db: Kysely<Database>,
  batch: ImportBatch,
  error: unknown,
  attempts: number,
  onImportEnded?: BatchContext['onImportEnded'],
): Promise<void> {
  const lines = batch.records.map((record) => record.line);
  const span = lines.length === 0 ? '' : `lines ${Math.min(...lines)}-${Math.max(...lines)}: `;
  await db.transaction().execute(async (trx) => {
    if (await claimImportBatch(trx, batch.importId, batch.batchNo)) {
      const reason = `not written: the batch failed ${attempts} times on a server error (the server log has the cause)`;
      await recordImportBatch(
        trx,
        batch.importId,
        batch.batchNo,
        { inserted: 0, updated: 0, unchanged: 0, deleted: 0, failed: batch.records.length },
        batch.records.slice(0, 5).map((record) => ({ line: record.line, id: record.id, reason })),
      );
      await finishImportBatch(trx, batch.importId, batch.batchNo, []);
      await touchImportProgress(trx, batch.importId);
      return;
    }
    const why =
      error instanceof BatchEmbeddingError
        ? `the embedder failed ${attempts} times`
        : 'a server error (the server log has the cause)';
    await finishBatchWithoutEmbeddings(
      trx,
      batch.importId,
      batch.batchNo,
      {
        line: lines[0] ?? 0,
        reason: `${span}stored but not embedded (${why}); the items stay pending and are embedded later`,
      },
      embeddableIds(batch),
    );
  });
  const ended = await finalizeImportIfDone(db, batch.importId);
  if (ended) onImportEnded?.(ended);
}

/**
 * Ends an import once the reader is done and every batch is recorded; whoever gets there first (the reader
 * or the last batch) does it, under a row lock. A full sync then deletes what the file did not hold, unless
 * that is more than the allowed share of the table. Returns the import when this call ended it.
 */
export async function finalizeImportIfDone(
  db: Kysely<Database>,
  importId: string,
): Promise<EndedImport | undefined> {
  return db.transaction().execute(async (trx): Promise<EndedImport | undefined> => {
    const current = await lockImport(trx, importId);
    if (!current || current.status !== 'processing' || current.batches_total === null) return undefined;
    if ((await countFinishedBatches(trx, importId)) < current.batches_total) return undefined;
    const kind = current.kind as ImportKind;
    // An items import that began on an empty catalog dropped the HNSW index (readImport): built again here,
    // in the transaction that ends the import, so that an import never ends without it, however it ends.
    if (current.kind === 'items' && (await ensureItemEmbeddingsIndex(trx))) await analyzeItemTables(trx);
    if (current.mode === 'sync' && (current.kind === 'items' || current.kind === 'users')) {
      const table = current.kind;
      const options = current.options as { maxDeletePercent?: number; force?: boolean };
      const unseen = await countUnseen(trx, importId, table);
      const total = await countTableRows(trx, table);
      const limit = options.maxDeletePercent ?? 10;
      if (unseen > 0 && !options.force && (unseen / Math.max(total, 1)) * 100 > limit) {
        await markImportFailed(
          trx,
          importId,
          `sync refused: it would delete ${unseen} of ${total} ${table} (${((unseen / total) * 100).toFixed(1)} %), more than maxDeletePercent ${limit} %; nothing was deleted (force=true to do it)`,
        );
        await forgetSeenIds(trx, importId);
        return { importId, kind, status: 'failed' };
      }
      await recordSyncDeletions(trx, importId, await deleteUnseen(trx, importId, table));
    }
    await finishImport(trx, importId);
    return { importId, kind, status: 'completed' };
  });
}

/**
 * Batches of one import write in file order wherever they share ids, so that when an id appears in several
 * batches the last record wins, as it would in one sequential pass, even with many workers: a batch waits
 * (up to `timeoutMs`) until the batches it comes after (`after`, chosen by the reader) are written. Batches
 * that share no id write in parallel, and embedding, the slow part, always does. Events need no order (they
 * are deduplicated, never overwritten). Returns false when one of them is still not written.
 */
export async function waitForPreviousBatch(
  db: Kysely<Database>,
  batch: ImportBatch,
  { timeoutMs, pollMs = 20 }: { timeoutMs: number; pollMs?: number },
): Promise<boolean> {
  const after = batch.after ?? (batch.batchNo > 0 ? [batch.batchNo - 1] : []);
  if (batch.kind === 'events' || after.length === 0) return true;
  const deadline = Date.now() + timeoutMs;
  let stateCheckedAt = Date.now();
  for (;;) {
    if (await areImportBatchesWritten(db, batch.importId, after)) return true;
    if (Date.now() >= deadline) return false;
    // An import that has ended (failed: a batch it waits for was lost, say) has no order left to keep.
    if (Date.now() - stateCheckedAt >= 1_000) {
      stateCheckedAt = Date.now();
      const state = await findImportState(db, batch.importId);
      if (state !== 'receiving' && state !== 'processing') return true;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
