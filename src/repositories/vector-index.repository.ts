import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.ts';

// The HNSW index cosine searches on item_embeddings use, and the settings those searches run with.

// Bounds a filtered search whose filter matches (almost) nothing, which would otherwise walk the whole graph.
// Measured on the netflix catalog with a filter matching no item: all 8,807 tuples in 0.45 s embedded (WASM,
// where a query holds up every other one; 5,000 took 0.21 s) and 0.10 s served: both stop near 0.25 s.
const MAX_SCAN_TUPLES = { embedded: 5_000, postgres: 20_000 } as const;

/**
 * Session settings for HNSW searches (https://github.com/pgvector/pgvector#iterative-index-scans), applied
 * to every connection. relaxed_order lets a filtered search go on scanning the graph until it has a full
 * page instead of stopping after ef_search candidates, of which a filter may keep none; results can come
 * slightly out of order, so queries sort them again.
 */
export function vectorSearchSettings(
  efSearch: number,
  mode: keyof typeof MAX_SCAN_TUPLES,
): Readonly<Record<string, string>> {
  return {
    'hnsw.ef_search': String(efSearch),
    'hnsw.iterative_scan': 'relaxed_order',
    'hnsw.max_scan_tuples': String(MAX_SCAN_TUPLES[mode]),
    // An HNSW build is fast only while its graph fits in maintenance_work_mem (Postgres's default 64MB holds
    // about 40,000 vectors of 256 dimensions); past that pgvector builds on disk, many times slower. Served,
    // give builds 1GB (taken only while one runs). Embedded keeps the default: WebAssembly memory never
    // shrinks, so a big build would stay resident for the life of the process.
    ...(mode === 'postgres' && { maintenance_work_mem: '1GB' }),
  };
}

/** For a connection that cannot take them at start-up (the embedded database): applied to its session. */
export async function applySessionSettings(
  db: Kysely<Database>,
  settings: Readonly<Record<string, string>>,
): Promise<void> {
  for (const [name, value] of Object.entries(settings))
    await sql`SELECT set_config(${name}, ${value}, false)`.execute(db);
}

/**
 * The HNSW graph's build options, shared by item_embeddings_hnsw_idx and the staging table's index:
 * m = 16 (pgvector's default) and ef_construction = 40 (default 64). Measured here (2 cores, 256
 * dimensions): building over 100,000 synthetic items took 36 s at 40 against 47 s at 64, and recall@10 on
 * the netflix catalog at ef_search 100 was 0.993 at both (0.990 at 32). An existing index keeps the options
 * it was built with until it is built again (REINDEX).
 */
export const HNSW_INDEX_OPTIONS = sql`WITH (m = 16, ef_construction = 40)`;

/** The HNSW index, in the caller's transaction. */
export async function createItemEmbeddingsIndex(db: Kysely<Database>): Promise<void> {
  await sql`CREATE INDEX IF NOT EXISTS item_embeddings_hnsw_idx ON item_embeddings
    USING hnsw (embedding vector_cosine_ops) ${HNSW_INDEX_OPTIONS}`.execute(db);
}

// Serialises the check-then-build below between connections and processes: two plain CREATE INDEX on one
// table do not wait for each other (both take a SHARE lock), and the second would fail on the index name.
const INDEX_BUILD_LOCK = sql`hashtext('marquee:item_embeddings_hnsw_idx')`;

/**
 * Builds the HNSW index unless it exists; true when it built it. A bulk load into an empty table drops the
 * index first (dropItemEmbeddingsIndexIfEmpty): building it once from all the rows is several times faster
 * than maintaining it row by row (netflix catalog: 8 s against about 40 s embedded, 4.5 s against about 12 s
 * served). Writes to item_embeddings wait while it builds.
 */
export async function ensureItemEmbeddingsIndex(db: Kysely<Database>): Promise<boolean> {
  if (await itemEmbeddingsIndexExists(db)) return false;
  const build = async (trx: Kysely<Database>) => {
    await sql`SELECT pg_advisory_xact_lock(${INDEX_BUILD_LOCK})`.execute(trx);
    if (await itemEmbeddingsIndexExists(trx)) return false;
    await createItemEmbeddingsIndex(trx);
    return true;
  };
  // In the caller's transaction when given one (an import's end: "completed" then implies the index).
  return db.isTransaction ? build(db) : db.transaction().execute(build);
}

async function itemEmbeddingsIndexExists(db: Kysely<Database>): Promise<boolean> {
  // A query on pg_indexes, not to_regclass: a statement's snapshot sees an index another transaction just
  // committed, while to_regclass reads the session's catalog cache, which may not have caught up yet (a
  // builder that waited on the lock would then build, or claim to, a second time).
  const result = await sql<{ present: boolean }>`
    SELECT EXISTS (
      SELECT 1 FROM pg_indexes
      WHERE schemaname = current_schema() AND indexname = 'item_embeddings_hnsw_idx'
    ) AS present`.execute(db);
  return result.rows[0]?.present ?? false;
}

/**
 * Refreshes the planner's statistics of items and item_embeddings after a bulk load. They decide whether a
 * filtered search walks the HNSW index or filters first and sorts exactly; the embedded database has no
 * autovacuum to refresh them, and without them it never chose the index for a filtered search.
 */
export async function analyzeItemTables(db: Kysely<Database>): Promise<void> {
  await sql`ANALYZE items, item_embeddings`.execute(db);
}

/**
 * Drops the HNSW index when item_embeddings holds no row, so that a bulk load starting on an empty catalog
 * stores plain rows; whoever ends the load builds it (ensureItemEmbeddingsIndex), as does every start-up.
 * True when it dropped it.
 */
export async function dropItemEmbeddingsIndexIfEmpty(db: Kysely<Database>): Promise<boolean> {
  if (!(await itemEmbeddingsEmpty(db)) || !(await itemEmbeddingsIndexExists(db))) return false;
  return db.transaction().execute(async (trx) => {
    // Taken before looking again, so that no row can arrive between the look and the drop.
    await sql`LOCK TABLE item_embeddings IN ACCESS EXCLUSIVE MODE`.execute(trx);
    if (!(await itemEmbeddingsEmpty(trx))) return false;
    await sql`DROP INDEX IF EXISTS item_embeddings_hnsw_idx`.execute(trx);
    return true;
  });
}

async function itemEmbeddingsEmpty(db: Kysely<Database>): Promise<boolean> {
  return (await db.selectFrom('item_embeddings').select('item_id').limit(1).executeTakeFirst()) === undefined;
}
