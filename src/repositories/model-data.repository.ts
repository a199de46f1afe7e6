import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Database } from '../db/database.ts';

// What model training reads (events) and writes (item_neighbours), and the lock that keeps two processes from
// training at once.

/** What training reads of an event. */
export interface TrainingEventRow {
  seq: string | number;
  user_id: string;
  item_id: string;
  /** occurred_at in epoch milliseconds: parsing a million timestamps into Dates doubled the read time. */
  occurred_at_ms: number;
  type: string;
  value: number | null;
}

// Rows per keyset page: large enough that a million events is a hundred round trips, small enough that a
// page is a few MB of row objects.
const EVENT_PAGE_SIZE = 10_000;
// Rows per INSERT: 1,000 neighbour lists of 100 ids is about 100,000 array elements per statement.
const WRITE_BATCH_SIZE = 1_000;

/**
 * The events of the given types in `seq` order, one keyset page at a time: only a page of rows is held at
 * once, whatever the size of the table. Events of deleted items are included (filtering them here cost a
 * lookup per row; callers filter against listItemIds).
 */
export async function* streamTrainingEvents(
  db: Kysely<Database>,
  {
    types,
    upToSeq,
    pageSize = EVENT_PAGE_SIZE,
  }: { types: readonly string[]; upToSeq?: string; pageSize?: number },
): AsyncGenerator<TrainingEventRow[]> {
  if (types.length === 0) return;
  let after: string | number | undefined;
  for (;;) {
    let query = db
      .selectFrom('events')
      .select([
        'seq',
        'user_id',
        'item_id',
        sql<number>`(extract(epoch FROM occurred_at) * 1000)::float8`.as('occurred_at_ms'),
        'type',
        'value',
      ])
      .where('type', 'in', [...types])
      .orderBy('seq')
      .limit(pageSize);
    if (after !== undefined) query = query.where('seq', '>', after);
    if (upToSeq !== undefined) query = query.where('seq', '<=', upToSeq);
    const rows = await query.execute();
    if (rows.length === 0) return;
    yield rows;
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.seq;
  }
}

/**
 * Refreshes the planner's statistics of events on the embedded database, which has no autovacuum: without
 * them it planned every keyset page as a scan and sort of the whole table (3 s a page at 200,000 events,
 * against 0.3 s with them). Served, autovacuum keeps them, and an ANALYZE could wait behind a vacuum.
 */
export async function analyzeEventsIfEmbedded(db: Kysely<Database>): Promise<void> {
  if (isSingleSession(db)) await sql`ANALYZE events`.execute(db);
}

/** Every item id of the catalog. */
export async function listItemIds(db: Kysely<Database>): Promise<Set<string>> {
  const rows = await db.selectFrom('items').select('id').execute();
  return new Set(rows.map((row) => row.id));
}

/** The seq of the latest event (as text: a bigint), undefined when there is none. One step down the key. */
export async function findLatestEventSeq(db: Kysely<Database>): Promise<string | undefined> {
  const row = await db.selectFrom('events').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return row ? String(row.seq) : undefined;
}

/** How many events the table holds (one scan: a training's cost, not a request's). */
export async function countEvents(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('events')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .executeTakeFirst();
  return Number(row?.count ?? 0);
}

/**
 * How many events came after `seq`, counting at most `atMost` of them (a walk of the primary key that stops
 * there): what the training scheduler compares with its threshold.
 */
export async function countEventsAfter(db: Kysely<Database>, seq: string, atMost: number): Promise<number> {
  const result = await sql<{ count: string }>`
    SELECT count(*) AS count FROM (SELECT 1 FROM events WHERE seq > ${seq}::bigint LIMIT ${atMost}) later`.execute(
    db,
  );
  return Number(result.rows[0]?.count ?? 0);
}

export interface ItemNeighbourRow {
  itemId: string;
  /** Most similar first. */
  neighbourIds: string[];
  scores: number[];
}

/**
 * Replaces every row of item_neighbours with `rows` (consumed lazily, a batch at a time); readers see the
 * previous training until the new one is complete. Returns the rows written. See replaceTable for how.
 */
export async function replaceItemNeighbours(
  db: Kysely<Database>,
  rows: Iterable<ItemNeighbourRow>,
  model: string,
): Promise<number> {
  return replaceTable(db, 'item_neighbours', rows, (target, batch) => {
    const records = batch.map((row) => ({
      item_id: row.itemId,
      neighbour_ids: row.neighbourIds,
      scores: row.scores.map(toReal),
    }));
    // One JSON parameter per batch rather than four per row: no parameter limit, and Postgres parses it
    // faster than the driver serialises 100,000 array elements.
    return sql`
      INSERT INTO ${sql.table(target)} (item_id, neighbour_ids, scores, model)
      SELECT item_id, neighbour_ids, scores, ${model}
      FROM json_to_recordset(${JSON.stringify(records)}::json)
        AS r(item_id text, neighbour_ids text[], scores real[])`;
  });
}

/**
 * Deletes every row of `table` and inserts `rows`, so that no reader ever sees part of either. On Postgres
 * (or inside the caller's transaction), in one transaction: MVCC keeps serving the old rows meanwhile. The
 * embedded database has one session, which a transaction holds for every query of the app: writing 10,000
 * lists of 100 neighbours there took 14 s during which the API waited. So there the rows go first into a
 * temporary table, a statement at a time (the API's queries run in between), and one short transaction
 * swaps them in with a server-side copy (1.3 s for the same rows).
 */
async function replaceTable<T>(
  db: Kysely<Database>,
  table: 'item_neighbours',
  rows: Iterable<T>,
  insert: (target: string, batch: T[]) => RawBuilder<unknown>,
): Promise<number> {
  if (db.isTransaction || !isSingleSession(db)) {
    const write = async (trx: Kysely<Database>) => {
      await trx.deleteFrom(table).execute();
      return insertInBatches(rows, (batch) => insert(table, batch).execute(trx));
    };
    return db.isTransaction ? write(db) : db.transaction().execute(write);
  }
  const staged = `${table}_staged`;
  await sql`CREATE TEMPORARY TABLE IF NOT EXISTS ${sql.table(staged)} (LIKE ${sql.table(table)} INCLUDING DEFAULTS)`.execute(
    db,
  );
  await sql`TRUNCATE ${sql.table(staged)}`.execute(db);
  try {
    const written = await insertInBatches(rows, (batch) => insert(staged, batch).execute(db));
    await db.transaction().execute(async (trx) => {
      await trx.deleteFrom(table).execute();
      await sql`INSERT INTO ${sql.table(table)} SELECT * FROM ${sql.table(staged)}`.execute(trx);
    });
    return written;
  } finally {
    await sql`TRUNCATE ${sql.table(staged)}`.execute(db);
  }
}

/**
 * The stored neighbours of these items, most similar first; an item without a row (no co-interactions, or
 * not trained yet) is absent. Neighbours may include items deleted since the training: join with items.
 */
export async function findItemNeighbours(
  db: Kysely<Database>,
  itemIds: readonly string[],
): Promise<Map<string, { neighbourIds: string[]; scores: number[] }>> {
  const found = new Map<string, { neighbourIds: string[]; scores: number[] }>();
  if (itemIds.length === 0) return found;
  const rows = await db
    .selectFrom('item_neighbours')
    .select(['item_id', 'neighbour_ids', 'scores'])
    .where('item_id', 'in', [...new Set(itemIds)])
    .execute();
  for (const row of rows)
    found.set(row.item_id, { neighbourIds: row.neighbour_ids, scores: row.scores.map(Number) });
  return found;
}

/**
 * Removes from the neighbour lists of `itemIds` the neighbours, also among `itemIds`, that no user's positive
 * events support any more (nobody has both): what an erasure of the user who had them must take away at once,
 * before the next training. Returns the pairs removed (each direction counts).
 */
export async function removeUnsupportedNeighbourPairs(
  db: Kysely<Database>,
  itemIds: readonly string[],
  positiveTypes: readonly string[],
): Promise<number> {
  const items = new Set(itemIds);
  const lists = await findItemNeighbours(db, itemIds);
  const pairs: { a: string; b: string }[] = [];
  for (const [itemId, list] of lists)
    for (const neighbourId of list.neighbourIds)
      if (items.has(neighbourId)) pairs.push({ a: itemId, b: neighbourId });
  if (pairs.length === 0) return 0;
  const unsupported = await sql<{ a: string; b: string }>`
    SELECT p.a, p.b FROM json_to_recordset(${JSON.stringify(pairs)}::json) AS p(a text, b text)
    WHERE NOT EXISTS (
      SELECT 1 FROM events ea JOIN events eb ON eb.user_id = ea.user_id
      WHERE ea.item_id = p.a AND eb.item_id = p.b
        AND ea.type = ANY(${[...positiveTypes]}::text[]) AND eb.type = ANY(${[...positiveTypes]}::text[]))`.execute(
    db,
  );
  const removed = new Map<string, Set<string>>();
  for (const { a, b } of unsupported.rows) {
    let set = removed.get(a);
    if (!set) removed.set(a, (set = new Set()));
    set.add(b);
  }
  for (const [itemId, gone] of removed) {
    const list = lists.get(itemId)!;
    const kept = list.neighbourIds.flatMap((id, index) => (gone.has(id) ? [] : [index]));
    // An emptied list stays as an empty row, so that processes holding the lists see the edit.
    await db
      .updateTable('item_neighbours')
      .set({
        neighbour_ids: kept.map((index) => list.neighbourIds[index]!),
        scores: kept.map((index) => toReal(list.scores[index]!)),
        updated_at: sql<Date>`clock_timestamp()`,
      })
      .where('item_id', '=', itemId)
      .execute();
  }
  return unsupported.rows.length;
}

// Session-level, so it is held across the transactions of a training and released if the process dies.
const TRAINING_LOCK = sql`hashtext('marquee:model-training')`;

/**
 * Runs `work` while holding the training advisory lock, `{ locked: false }` at once when another session
 * holds it. `work` gets the session that holds the lock and should run its queries there: a training's
 * queries run one after another anyway, and it then needs one connection of the pool, not two (a pool of
 * one would otherwise deadlock). The embedded database has a single session (and the data folder lock keeps
 * other processes out), so there it runs `work` directly: callers in one process must not overlap, which
 * the service ensures.
 */
export async function withTrainingLock<T>(
  db: Kysely<Database>,
  work: (session: Kysely<Database>) => Promise<T>,
): Promise<{ locked: true; value: T } | { locked: false }> {
  if (isSingleSession(db)) return { locked: true, value: await work(db) };
  return db.connection().execute(async (session) => {
    const result = await sql<{
      locked: boolean;
    }>`SELECT pg_try_advisory_lock(${TRAINING_LOCK}) AS locked`.execute(session);
    if (!result.rows[0]?.locked) return { locked: false as const };
    try {
      return { locked: true as const, value: await work(session) };
    } finally {
      await sql`SELECT pg_advisory_unlock(${TRAINING_LOCK})`.execute(session);
    }
  });
}

/**
 * True while some session holds the training lock (a training runs in some process). Always false on the
 * embedded database, which has no other process: ask the training service there.
 */
export async function isTrainingLockHeld(db: Kysely<Database>): Promise<boolean> {
  if (isSingleSession(db)) return false;
  // A one-key advisory lock shows its bigint key split into classid (high half) and objid (low half).
  const result = await sql<{ held: boolean }>`
    SELECT EXISTS (
      SELECT 1 FROM pg_locks
      WHERE locktype = 'advisory' AND objsubid = 1 AND granted
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND classid = ((${TRAINING_LOCK}::bigint >> 32) & 4294967295)::bigint::oid
        AND objid = (${TRAINING_LOCK}::bigint & 4294967295)::bigint::oid
    ) AS held`.execute(db);
  return Boolean(result.rows[0]?.held);
}

/** The embedded database (PGlite): one session that every query of the process shares. */
function isSingleSession(db: Kysely<Database>): boolean {
  return !db.getExecutor().adapter.supportsMultipleConnections;
}

/**
 * A number a `real` column accepts: Postgres refuses a value too small for float4 (a year-old event decays to
 * 0.5^365 of a one-day half-life) instead of rounding it to 0, so those are 0.
 */
function toReal(value: number): number {
  return Math.abs(value) < 1e-30 ? 0 : value;
}

async function insertInBatches<T>(
  rows: Iterable<T>,
  insert: (batch: T[]) => Promise<unknown>,
): Promise<number> {
  let written = 0;
  let batch: T[] = [];
  for (const row of rows) {
    batch.push(row);
    if (batch.length >= WRITE_BATCH_SIZE) {
      await insert(batch);
      written += batch.length;
      batch = [];
    }
  }
  if (batch.length > 0) {
    await insert(batch);
    written += batch.length;
  }
  return written;
}
