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

/**
 * Text as Postgres can store it: NUL (refused by text and jsonb) and lone surrogates (refused by jsonb,
 * mangled by text) become U+FFFD, and it is cut to `maxLength` characters. For what an import writes about
 * its records (an id, a reason quoting the input), so that bad input can never make that write fail.
 */
export function storableText(text: string, maxLength: number): string {
  const cut = text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text;
  return cut.replaceAll('\u0000', '\uFFFD').toWellFormed();
}

const MAX_ERROR_ID_LENGTH = 256;
const MAX_ERROR_REASON_LENGTH = 1_000;

/** Import errors as jsonb text, each id and reason storable (see storableText). */
export function storableErrors(errors: readonly ImportError[]): string {
  return JSON.stringify(
    errors.map((error) => ({
      line: error.line,
      ...(error.id === undefined ? {} : { id: storableText(error.id, MAX_ERROR_ID_LENGTH) }),
      reason: storableText(error.reason, MAX_ERROR_REASON_LENGTH),
    })),
  );
}

/** What the reader has seen so far, and how many batches it has handed to the queue: it moves. */
export async function recordReaderProgress(
  db: Kysely<Database>,
  id: string,
  progress: { received: number; rejected: number; errors: readonly ImportError[]; batchesSubmitted: number },
): Promise<void> {
  await db
    .updateTable('imports')
    .set({
      received: progress.received,
      rejected: progress.rejected,
      errors: storableErrors(progress.errors),
      batches_submitted: progress.batchesSubmitted,
      progress_at: sql<Date>`now()`,
    })
    .where('id', '=', id)
    .execute();
}

/** The reader is alive; returns the import's status (a reader whose import has ended elsewhere stops). */
export async function touchImportReader(db: Kysely<Database>, id: string): Promise<string | undefined> {
  const row = await db
    .updateTable('imports')
    .set({ reader_alive_at: sql<Date>`now()` })
    .where('id', '=', id)
    .returning('status')
    .executeTakeFirst();
  return row?.status;
}

/** The reader is done: every batch is submitted. */
export async function markImportRead(db: Kysely<Database>, id: string, batchesTotal: number): Promise<void> {
  await db
    .updateTable('imports')
    .set({
      batches_total: batchesTotal,
      batches_submitted: batchesTotal,
      read_at: sql<Date>`now()`,
      progress_at: sql<Date>`now()`,
      status: 'processing',
    })
    .where('id', '=', id)
    .where('status', '=', 'receiving')
    .execute();
}

/** Fails an import that has not ended yet; false when it had (nothing changed). */
export async function markImportFailed(db: Kysely<Database>, id: string, failure: string): Promise<boolean> {
  const result = await db
    .updateTable('imports')
    .set({
      status: 'failed',
      failure: storableText(failure, MAX_ERROR_REASON_LENGTH),
      finished_at: sql<Date>`clock_timestamp()`,
    })
    .where('id', '=', id)
    .where('status', 'in', ['receiving', 'processing'])
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
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
    .set({ ...counts, errors: storableErrors(errors) })
    .where('import_id', '=', importId)
    .where('batch_no', '=', batchNo)
    .execute();
}

/** How many of these items have their current embedding stored since the import began (SQL, as a value). */
const embeddedSinceImportBegan = (importId: string, itemIds: readonly string[]) =>
  itemIds.length === 0
    ? sql<number>`0`
    : sql<number>`(
        SELECT count(*)::int FROM item_embeddings
        JOIN items ON items.id = item_embeddings.item_id
          AND items.embedding_text_hash = item_embeddings.content_hash
        WHERE item_embeddings.item_id = ANY(${[...itemIds]}::text[])
          AND item_embeddings.embedded_at >= (SELECT created_at FROM imports WHERE id = ${importId})
      )`;

/**
 * The batch is done. Its `embedded` count is read from the database, not added up by the job: the batch's
 * items whose current embedding was stored since the import began, whoever stored it (this job, a run of it
 * that died after storing, the background embedder). A retried batch sets the same count again; the time it
 * first finished is kept.
 */
export async function finishImportBatch(
  db: Kysely<Database>,
  importId: string,
  batchNo: number,
  itemIds: readonly string[],
): Promise<void> {
  await db
    .updateTable('import_batches')
    .set({
      embedded: embeddedSinceImportBegan(importId, itemIds),
      finished_at: sql<Date>`coalesce(finished_at, now())`,
    })
    .where('import_id', '=', importId)
    .where('batch_no', '=', batchNo)
    .execute();
}

/**
 * The import has moved (a batch finished). Its own statement, after the batch's transaction: taking the
 * import's row lock inside that transaction, after its item_embeddings writes, would take the two locks in the
 * opposite order to finalizeImportIfDone, which builds the vector index while it holds that row.
 */
export async function touchImportProgress(db: Kysely<Database>, importId: string): Promise<void> {
  await db
    .updateTable('imports')
    .set({ progress_at: sql<Date>`now()` })
    .where('id', '=', importId)
    .execute();
}

/**
 * Finishes a batch whose rows were written but whose items were not embedded (its embedder kept failing, or
 * its job was lost; `itemIds` when they are known), noting why in its errors, and marks the import as leaving
 * embeddings pending. False when the batch had finished already.
 */
export async function finishBatchWithoutEmbeddings(
  db: Kysely<Database>,
  importId: string,
  batchNo: number,
  note: ImportError,
  itemIds: readonly string[] = [],
): Promise<boolean> {
  const finished = await db
    .updateTable('import_batches')
    .set({
      // Some may have been embedded meanwhile, by the background embedder.
      embedded: embeddedSinceImportBegan(importId, itemIds),
      finished_at: sql<Date>`now()`,
      errors: sql<string>`errors || ${storableErrors([note])}::jsonb`,
    })
    .where('import_id', '=', importId)
    .where('batch_no', '=', batchNo)
    .where('finished_at', 'is', null)
    .returning('batch_no')
    .executeTakeFirst();
  if (!finished) return false;
  await db
    .updateTable('imports')
    .set({ embeddings_pending: true, progress_at: sql<Date>`now()` })
    .where('id', '=', importId)
    .execute();
  return true;
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

/** A stalled import, claimed by a sweeper for one stall period (see claimImportsToSweep). */
export interface StalledImport {
  id: string;
  kind: string;
  status: 'receiving' | 'processing';
  batchesTotal: number | null;
  batchesSubmitted: number;
  /** Its reader has not said it was alive for the stall period either: it is gone. */
  readerGone: boolean;
}

/**
 * The sweeper's one query a period, on two partial indexes: claims up to `limit` imports that have not moved
 * for `stallSeconds` (it sets their progress_at, so no other sweeper takes them for another period; SKIP
 * LOCKED lets sweepers of several processes pass each other), and says whether some import left embeddings
 * pending.
 */
export async function claimImportsToSweep(
  db: Kysely<Database>,
  stallSeconds: number,
  limit: number,
): Promise<{ stalled: StalledImport[]; embeddingsPending: boolean }> {
  const stall = sql`make_interval(secs => ${stallSeconds})`;
  const result = await sql<{
    id: string;
    kind: string;
    status: string;
    batches_total: number | null;
    batches_submitted: number;
    reader_gone: boolean;
  }>`
    WITH claimed AS (
      UPDATE imports SET progress_at = now()
      WHERE id IN (
        SELECT id FROM imports
        WHERE status IN ('receiving', 'processing') AND progress_at < now() - ${stall}
        ORDER BY progress_at
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      )
      RETURNING id, kind, status, batches_total, batches_submitted, reader_alive_at < now() - ${stall} AS reader_gone
    )
    SELECT * FROM claimed
    UNION ALL
    SELECT id, kind, 'embeddings_pending', NULL, 0, false
    FROM (SELECT id, kind FROM imports WHERE embeddings_pending LIMIT 1) AS pending`.execute(db);
  return {
    stalled: result.rows
      .filter((row) => row.status !== 'embeddings_pending')
      .map((row) => ({
        id: row.id,
        kind: row.kind,
        status: row.status as StalledImport['status'],
        batchesTotal: row.batches_total,
        batchesSubmitted: row.batches_submitted,
        readerGone: row.reader_gone,
      })),
    embeddingsPending: result.rows.some((row) => row.status === 'embeddings_pending'),
  };
}

/**
 * The batches of an import, among the first `submitted`, that are not finished: `written` have a row (their
 * records were written, their embeddings not yet), `missing` have none (never written).
 */
export async function findUnfinishedBatches(
  db: Kysely<Database>,
  importId: string,
  submitted: number,
): Promise<{ written: number[]; missing: number[] }> {
  const written = await db
    .selectFrom('import_batches')
    .select('batch_no')
    .where('import_id', '=', importId)
    .where('batch_no', '>=', 0)
    .where('finished_at', 'is', null)
    .orderBy('batch_no')
    .execute();
  if (submitted === 0) return { written: written.map((row) => row.batch_no), missing: [] };
  const missing = await sql<{ batch_no: number }>`
    SELECT numbers.batch_no FROM generate_series(0, ${submitted - 1}::int) AS numbers (batch_no)
    WHERE NOT EXISTS (
      SELECT 1 FROM import_batches
      WHERE import_batches.import_id = ${importId} AND import_batches.batch_no = numbers.batch_no
    )
    ORDER BY numbers.batch_no`.execute(db);
  return { written: written.map((row) => row.batch_no), missing: missing.rows.map((row) => row.batch_no) };
}

/**
 * Takes the ended imports that left embeddings pending, clearing their mark: the caller then embeds what is
 * pending, and gives them back (restoreEmbeddingsPending) if that fails. Row locks make one caller win.
 */
export async function takeEmbeddingsPending(db: Kysely<Database>): Promise<string[]> {
  const rows = await db
    .updateTable('imports')
    .set({ embeddings_pending: false })
    .where('embeddings_pending', '=', true)
    .where('status', 'in', ['completed', 'failed'])
    .returning('id')
    .execute();
  return rows.map((row) => row.id);
}

export async function restoreEmbeddingsPending(db: Kysely<Database>, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('imports')
    .set({ embeddings_pending: true })
    .where('id', 'in', [...ids])
    .execute();
}
