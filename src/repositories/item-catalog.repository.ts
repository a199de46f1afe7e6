import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { keysetPages } from './keyset-pages.ts';

/** What each process holds of an item to check and describe candidates without a query (item-catalog.service). */
export interface CatalogEntryRow {
  id: string;
  title: string;
  genres: string[];
  series_id: string | null;
  release_year: number | null;
  available_from: Date | null;
  available_until: Date | null;
  created_at: Date;
  updated_at: Date;
  /** attributes.boost when it is a number (an editorial boost), else null. */
  boost: number | null;
}

/** The state a held catalog compares itself with: how many items, when it was read, the last training. */
export interface CatalogState {
  items: number;
  /** The database's clock when this was read. */
  readAt: Date;
  trainedAt: Date | undefined;
}

const PAGE_SIZE = 5_000;

const entryColumns = sql<CatalogEntryRow>`id, title, genres, series_id, release_year, available_from,
  available_until, created_at, updated_at,
  CASE WHEN jsonb_typeof(attributes -> 'boost') = 'number' THEN (attributes ->> 'boost')::float8 END AS boost`;

/** Every item's catalog entry, a page at a time in id order (one short statement each). */
export function streamCatalogEntries(db: Kysely<Database>): AsyncGenerator<CatalogEntryRow[]> {
  return keysetPages(
    async (after) =>
      (
        await sql<CatalogEntryRow>`SELECT ${entryColumns} FROM items
          WHERE ${after === undefined ? sql`true` : sql`id > ${after}`}
          ORDER BY id LIMIT ${PAGE_SIZE}`.execute(db)
      ).rows.map(normalised),
    (row) => row.id,
    PAGE_SIZE,
  );
}

/**
 * The catalog's state and the entries of the items written at or after `since` (oldest change first, at most
 * `limit`), from one snapshot: the count and the rows agree.
 */
export async function findCatalogChangesSince(
  db: Kysely<Database>,
  since: Date,
  limit: number,
): Promise<{ state: CatalogState; rows: CatalogEntryRow[] }> {
  const { rows } = await sql<StateRow & { changed: CatalogEntryRow[] }>`
    SELECT ${stateColumns},
      (SELECT coalesce(json_agg(changed ORDER BY changed.updated_at, changed.id), '[]'::json) FROM (
        SELECT ${entryColumns} FROM items WHERE updated_at >= ${since} ORDER BY updated_at, id LIMIT ${limit}
      ) AS changed) AS changed`.execute(db);
  const row = rows[0]!;
  return { state: stateOf(row), rows: row.changed.map(normalised) };
}

/** The catalog's state alone (before a whole read). */
export async function findCatalogState(db: Kysely<Database>): Promise<CatalogState> {
  const { rows } = await sql<StateRow>`SELECT ${stateColumns}`.execute(db);
  return stateOf(rows[0]!);
}

interface StateRow {
  items: number;
  read_at: Date | string;
  trained_at: string | null;
}

// now(): the statement's start, when its snapshot was taken.
const stateColumns = sql`(SELECT count(*) FROM items)::int AS items, now() AS read_at,
  (SELECT value ->> 'at' FROM marquee_meta WHERE key = 'models_trained') AS trained_at`;

function stateOf(row: StateRow): CatalogState {
  return {
    items: Number(row.items),
    readAt: new Date(row.read_at),
    trainedAt: row.trained_at === null ? undefined : new Date(row.trained_at),
  };
}

/** PGlite and pg differ on a few types: one shape for the service. */
function normalised(row: CatalogEntryRow): CatalogEntryRow {
  return {
    ...row,
    available_from: row.available_from === null ? null : new Date(row.available_from),
    available_until: row.available_until === null ? null : new Date(row.available_until),
    created_at: new Date(row.created_at),
    updated_at: new Date(row.updated_at),
    boost: row.boost === null ? null : Number(row.boost),
  };
}
