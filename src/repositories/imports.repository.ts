import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import type { Database, ImportBatchesTable, ImportError, ImportRow, NewItemRow } from '../db/database.ts';

export async function insertImport(
  db: Kysely<Database>,
  row: {
    id: string;
    kind: string;
    format: string;
    mode: string;
    source: string;
    options: Record<string, unknown>;
  },
): Promise<void> {
  await db
    .insertInto('imports')
    .values({ ...row, status: 'receiving', options: JSON.stringify(row.options) })
    .execute();
}

export async function findImport(db: Kysely<Database>, id: string): Promise<ImportRow | undefined> {
  return db.selectFrom('imports').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function recordReaderProgress(
  db: Kysely<Database>,
  id: string,
  progress: { received: number; rejected: number; errors: readonly ImportError[] },
): Promise<void> {
  await db
    .updateTable('imports')
    .set({
      received: progress.received,
      rejected: progress.rejected,
      errors: JSON.stringify(progress.errors),
    })
    .where('id', '=', id)
    .execute();
}

/** The reader is done: every batch is submitted. */
export async function markImportRead(db: Kysely<Database>, id: string, batchesTotal: number): Promise<void> {
  await db
    .updateTable('imports')
    .set({ batches_total: batchesTotal, read_at: sql<Date>`now()`, status: 'processing' })
    .where('id', '=', id)
    .where('status', '=', 'receiving')
    .execute();
}

export async function markImportFailed(db: Kysely<Database>, id: string, failure: string): Promise<void> {
  await db
    .updateTable('imports')
    .set({ status: 'failed', failure, finished_at: sql<Date>`clock_timestamp()` })
    .where('id', '=', id)
    .where('status', 'in', ['receiving', 'processing'])
    .execute();
}

/** What a batch did to its records, as counted in import_batches. */
export type BatchCounts = Pick<
  ImportBatchesTable,
  'inserted' | 'updated' | 'unchanged' | 'deleted' | 'failed' | 'embedded'
>;

/** Claims a batch number for this transaction; false when the batch was already done (a retried job). */
export async function claimImportBatch(
  db: Kysely<Database>,
  importId: string,
  batchNo: number,
): Promise<boolean> {
  const claimed = await db
    .insertInto('import_batches')
    .values({
      import_id: importId,
      batch_no: batchNo,
      inserted: 0,
      updated: 0,
      unchanged: 0,
      deleted: 0,
      failed: 0,
      embedded: 0,
    })
    .onConflict((conflict) => conflict.columns(['import_id', 'batch_no']).doNothing())
    .returning('batch_no')
    .executeTakeFirst();
  return claimed !== undefined;
}

export async function recordImportBatch(
  db: Kysely<Database>,
  importId: string,
  batchNo: number,
  counts: Omit<BatchCounts, 'embedded'>,
  errors: readonly ImportError[],
): Promise<void> {
  await db
    .updateTable('import_batches')
    .set({ ...counts, errors: JSON.stringify(errors) })
    .where('import_id', '=', importId)
    .where('batch_no', '=', batchNo)
    .execute();
}

/** The batch is done, with the embeddings it computed (a retried batch adds what its retry computed). */
export async function finishImportBatch(
  db: Kysely<Database>,
  importId: string,
  batchNo: number,
  embedded: number,
): Promise<void> {
  await db
    .updateTable('import_batches')
    .set((eb) => ({ embedded: eb('embedded', '+', embedded), finished_at: sql<Date>`now()` }))
    .where('import_id', '=', importId)
    .where('batch_no', '=', batchNo)
    .execute();
}

export async function sumImportBatches(
  db: Kysely<Database>,
  importId: string,
): Promise<
  BatchCounts & {
    batches: number;
    finishedBatches: number;
    lastFinishedAt: Date | null;
    errors: ImportError[];
  }
> {
  const row = await db
    .selectFrom('import_batches')
    .select((eb) => [
      sql<string>`count(*) FILTER (WHERE batch_no >= 0)`.as('batches'),
      sql<string>`count(finished_at) FILTER (WHERE batch_no >= 0)`.as('finished_batches'),
      sql<Date | null>`max(finished_at) FILTER (WHERE batch_no >= 0)`.as('last_finished_at'),
      eb.fn.coalesce(eb.fn.sum<string>('inserted'), sql<string>`0`).as('inserted'),
      eb.fn.coalesce(eb.fn.sum<string>('updated'), sql<string>`0`).as('updated'),
      eb.fn.coalesce(eb.fn.sum<string>('unchanged'), sql<string>`0`).as('unchanged'),
      eb.fn.coalesce(eb.fn.sum<string>('deleted'), sql<string>`0`).as('deleted'),
      eb.fn.coalesce(eb.fn.sum<string>('failed'), sql<string>`0`).as('failed'),
      eb.fn.coalesce(eb.fn.sum<string>('embedded'), sql<string>`0`).as('embedded'),
    ])
    .where('import_id', '=', importId)
    .executeTakeFirstOrThrow();
  const errorRows = await db
    .selectFrom('import_batches')
    .select('errors')
    .where('import_id', '=', importId)
    .where(sql<boolean>`jsonb_array_length(errors) > 0`)
    .orderBy('batch_no')
    .limit(20)
    .execute();
  return {
    batches: Number(row.batches),
    finishedBatches: Number(row.finished_batches),
    lastFinishedAt: row.last_finished_at === null ? null : new Date(row.last_finished_at),
    inserted: Number(row.inserted),
    updated: Number(row.updated),
    unchanged: Number(row.unchanged),
    deleted: Number(row.deleted),
    failed: Number(row.failed),
    embedded: Number(row.embedded),
    errors: errorRows.flatMap((errorRow) => errorRow.errors),
  };
}

const ITEM_DATA_COLUMNS = [
  'type',
  'title',
  'description',
  'genres',
  'tags',
  'credits',
  'language',
  'release_date',
  'release_year',
  'duration_seconds',
  'maturity_rating',
  'regions',
  'available_from',
  'available_until',
  'image_url',
  'url',
  'series_id',
  'attributes',
  'embedding_text_hash',
] as const;

/**
 * Inserts or replaces items in one statement; rows whose data is unchanged are not written at all.
 * Returns the ids written, each with whether it was new.
 */
export async function upsertItemsChanged(
  db: Kysely<Database>,
  rows: readonly NewItemRow[],
): Promise<{ id: string; inserted: boolean }[]> {
  if (rows.length === 0) return [];
  const stored = sql.join(ITEM_DATA_COLUMNS.map((column) => sql.ref(`items.${column}`)));
  const incoming = sql.join(ITEM_DATA_COLUMNS.map((column) => sql.ref(`excluded.${column}`)));
  return db
    .insertInto('items')
    .values([...rows])
    .onConflict((conflict) =>
      conflict
        .column('id')
        .doUpdateSet((eb) => ({
          ...Object.fromEntries(ITEM_DATA_COLUMNS.map((column) => [column, eb.ref(`excluded.${column}`)])),
          updated_at: sql<Date>`now()`,
        }))
        .where(sql<boolean>`(${stored}) IS DISTINCT FROM (${incoming})`),
    )
    .returning(['id', sql<boolean>`(xmax = 0)`.as('inserted')])
    .execute();
}

export async function upsertUsersChanged(
  db: Kysely<Database>,
  rows: readonly { id: string; attributes: string }[],
): Promise<{ id: string; inserted: boolean }[]> {
  if (rows.length === 0) return [];
  return db
    .insertInto('users')
    .values([...rows])
    .onConflict((conflict) =>
      conflict
        .column('id')
        .doUpdateSet((eb) => ({ attributes: eb.ref('excluded.attributes'), updated_at: sql<Date>`now()` }))
        .where(sql<boolean>`users.attributes IS DISTINCT FROM excluded.attributes`),
    )
    .returning(['id', sql<boolean>`(xmax = 0)`.as('inserted')])
    .execute();
}

export async function deleteRowsById(
  db: Kysely<Database>,
  table: 'items' | 'users',
  ids: readonly string[],
): Promise<number> {
  if (ids.length === 0) return 0;
  const result = await db
    .deleteFrom(table)
    .where('id', 'in', [...ids])
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function rememberSeenIds(
  db: Kysely<Database>,
  importId: string,
  ids: readonly string[],
): Promise<void> {
  if (ids.length === 0) return;
  await db
    .insertInto('import_seen_ids')
    .values(ids.map((id) => ({ import_id: importId, id })))
    .onConflict((conflict) => conflict.doNothing())
    .execute();
}

export async function lockImport(db: Kysely<Database>, id: string): Promise<ImportRow | undefined> {
  return db.selectFrom('imports').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function countTableRows(db: Kysely<Database>, table: 'items' | 'users'): Promise<number> {
  const row = await db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Rows of the table whose id the sync import did not see. */
const unseenBy =
  (importId: string, table: 'items' | 'users') => (eb: ExpressionBuilder<Database, 'items' | 'users'>) =>
    eb.not(
      eb.exists(
        eb
          .selectFrom('import_seen_ids')
          .select('import_seen_ids.id')
          .where('import_seen_ids.import_id', '=', importId)
          .whereRef('import_seen_ids.id', '=', `${table}.id`),
      ),
    );

export async function countUnseen(
  db: Kysely<Database>,
  importId: string,
  table: 'items' | 'users',
): Promise<number> {
  const row = await db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where(unseenBy(importId, table))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

export async function deleteUnseen(
  db: Kysely<Database>,
  importId: string,
  table: 'items' | 'users',
): Promise<number> {
  const result = await db.deleteFrom(table).where(unseenBy(importId, table)).executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function forgetSeenIds(db: Kysely<Database>, importId: string): Promise<void> {
  await db.deleteFrom('import_seen_ids').where('import_id', '=', importId).execute();
}

/** A sync's deletions, kept as the import's batch -1 so that they are counted with the rest. */
export async function recordSyncDeletions(
  db: Kysely<Database>,
  importId: string,
  deleted: number,
): Promise<void> {
  await db
    .insertInto('import_batches')
    .values({
      import_id: importId,
      batch_no: -1,
      inserted: 0,
      updated: 0,
      unchanged: 0,
      deleted,
      failed: 0,
      embedded: 0,
      finished_at: new Date(),
    })
    .onConflict((conflict) => conflict.doNothing())
    .execute();
}

export async function finishImport(db: Kysely<Database>, id: string): Promise<void> {
  await forgetSeenIds(db, id);
  await db
    .updateTable('imports')
    // The clock, not now() (the transaction's start): the transaction that ends an import may build the
    // HNSW index first, for seconds.
    .set({ status: 'completed', finished_at: sql<Date>`clock_timestamp()` })
    .where('id', '=', id)
    .execute();
}

/** Batches whose writes and embeddings are both done. */
export async function countFinishedBatches(db: Kysely<Database>, importId: string): Promise<number> {
  const row = await db
    .selectFrom('import_batches')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('import_id', '=', importId)
    .where('batch_no', '>=', 0)
    .where('finished_at', 'is not', null)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

export async function findImportState(db: Kysely<Database>, id: string): Promise<string | undefined> {
  const row = await db.selectFrom('imports').select('status').where('id', '=', id).executeTakeFirst();
  return row?.status;
}

/**
 * Whether every one of these batches of the import is written: a batch's row exists once its rows are
 * (its claim commits with them), or once it was recorded as failed.
 */
export async function areImportBatchesWritten(
  db: Kysely<Database>,
  importId: string,
  batchNos: readonly number[],
): Promise<boolean> {
  if (batchNos.length === 0) return true;
  const row = await db
    .selectFrom('import_batches')
    .select((eb) => eb.fn.countAll<string>().as('written'))
    .where('import_id', '=', importId)
    .where('batch_no', 'in', batchNos)
    .executeTakeFirstOrThrow();
  return Number(row.written) === new Set(batchNos).size;
}
