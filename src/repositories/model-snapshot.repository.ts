import { type Kysely, sql } from 'kysely';
import pgvector from 'pgvector';
import type { Database } from '../db/database.ts';
import type { NeighbourListRow } from '../recommender/model-snapshot.ts';
import { keysetPages } from './keyset-pages.ts';

// What a process reads to hold the model in memory (src/services/model-snapshot.service.ts): versions to
// poll, and the neighbour lists and item vectors, whole or changed since.

// Rows per keyset page: 5,000 lists of 100 neighbours, or 5,000 vectors of 256 dimensions as text (about
// 15 MB), is one round trip of a few tens of milliseconds.
const PAGE_SIZE = 5_000;

export interface ModelSnapshotVersions {
  /** When the last training ended (marquee_meta models_trained), undefined before the first. */
  trainedAt: string | undefined;
  /** The latest write or edit of a neighbour list. */
  neighboursChangedAt: Date | undefined;
  /** The latest write of an item vector. */
  vectorsChangedAt: Date | undefined;
  /** The embedding space the vectors are in (it changes when `marquee reembed` swaps them). */
  embeddingSpace: string | undefined;
  /** The learned ranker in service (ranker_models.id), undefined before one serves. */
  rankerId: string | undefined;
}

/** One round trip, four index look-ups: what tells a process that its copy is stale. */
export async function findModelSnapshotVersions(db: Kysely<Database>): Promise<ModelSnapshotVersions> {
  const result = await sql<{
    trained_at: string | null;
    neighbours_changed_at: Date | string | null;
    vectors_changed_at: Date | string | null;
    embedding_space: string | null;
    ranker_id: string | number | null;
  }>`
    SELECT
      (SELECT value ->> 'at' FROM marquee_meta WHERE key = 'models_trained') AS trained_at,
      (SELECT max(updated_at) FROM item_neighbours) AS neighbours_changed_at,
      (SELECT max(embedded_at) FROM item_embeddings) AS vectors_changed_at,
      (SELECT value::text FROM marquee_meta WHERE key = 'embedding_space') AS embedding_space,
      (SELECT max(id) FROM ranker_models WHERE serving) AS ranker_id`.execute(db);
  const row = result.rows[0];
  const date = (value: Date | string | null | undefined) =>
    value === null || value === undefined ? undefined : new Date(value);
  return {
    trainedAt: row?.trained_at ?? undefined,
    neighboursChangedAt: date(row?.neighbours_changed_at),
    vectorsChangedAt: date(row?.vectors_changed_at),
    embeddingSpace: row?.embedding_space ?? undefined,
    rankerId: row?.ranker_id === null || row?.ranker_id === undefined ? undefined : String(row.ranker_id),
  };
}

/** How many neighbour lists and entries, and item vectors, there are: what the memory cap is checked on. */
export async function countModelSnapshotRows(
  db: Kysely<Database>,
): Promise<{ lists: number; neighbours: number; vectors: number }> {
  const result = await sql<{ lists: string; neighbours: string | null; vectors: string }>`
    SELECT
      (SELECT count(*) FROM item_neighbours) AS lists,
      (SELECT sum(cardinality(neighbour_ids)) FROM item_neighbours) AS neighbours,
      (SELECT count(*) FROM item_embeddings) AS vectors`.execute(db);
  const row = result.rows[0];
  return {
    lists: Number(row?.lists ?? 0),
    neighbours: Number(row?.neighbours ?? 0),
    vectors: Number(row?.vectors ?? 0),
  };
}

/** Every neighbour list, a keyset page at a time. */
export function streamNeighbourLists(db: Kysely<Database>): AsyncGenerator<NeighbourListRow[]> {
  return keysetPages(
    async (after) =>
      (
        await db
          .selectFrom('item_neighbours')
          .select(['item_id', 'neighbour_ids', 'scores'])
          .$if(after !== undefined, (query) => query.where('item_id', '>', after!))
          .orderBy('item_id')
          .limit(PAGE_SIZE)
          .execute()
      ).map(toNeighbourListRow),
    (row) => row.itemId,
    PAGE_SIZE,
  );
}

/** Neighbour lists written or edited at or after `since`, at most `limit`. */
export async function findNeighbourListsChangedSince(
  db: Kysely<Database>,
  since: Date,
  limit: number,
): Promise<NeighbourListRow[]> {
  const rows = await db
    .selectFrom('item_neighbours')
    .select(['item_id', 'neighbour_ids', 'scores'])
    .where('updated_at', '>=', since)
    .orderBy('updated_at')
    .limit(limit)
    .execute();
  return rows.map(toNeighbourListRow);
}

export interface ItemVectorRow {
  itemId: string;
  vector: number[];
}

/** Every item vector, a keyset page at a time. */
export function streamItemVectors(db: Kysely<Database>): AsyncGenerator<ItemVectorRow[]> {
  return keysetPages(
    async (after) =>
      (
        await db
          .selectFrom('item_embeddings')
          .select(['item_id', 'embedding'])
          .$if(after !== undefined, (query) => query.where('item_id', '>', after!))
          .orderBy('item_id')
          .limit(PAGE_SIZE)
          .execute()
      ).map(toItemVectorRow),
    (row) => row.itemId,
    PAGE_SIZE,
  );
}

/** Item vectors written at or after `since`, at most `limit`. */
export async function findItemVectorsChangedSince(
  db: Kysely<Database>,
  since: Date,
  limit: number,
): Promise<ItemVectorRow[]> {
  const rows = await db
    .selectFrom('item_embeddings')
    .select(['item_id', 'embedding'])
    .where('embedded_at', '>=', since)
    .orderBy('embedded_at')
    .limit(limit)
    .execute();
  return rows.map(toItemVectorRow);
}

/** The vectors of some items (those a process does not hold yet). */
export async function findItemVectors(
  db: Kysely<Database>,
  itemIds: readonly string[],
): Promise<ItemVectorRow[]> {
  if (itemIds.length === 0) return [];
  const rows = await db
    .selectFrom('item_embeddings')
    .select(['item_id', 'embedding'])
    .where('item_id', '=', sql<string>`ANY(${[...itemIds]}::text[])`)
    .execute();
  return rows.map(toItemVectorRow);
}

function toNeighbourListRow(row: { item_id: string; neighbour_ids: string[]; scores: number[] }) {
  return { itemId: row.item_id, neighbourIds: row.neighbour_ids, scores: row.scores.map(Number) };
}

function toItemVectorRow(row: { item_id: string; embedding: string }): ItemVectorRow {
  const vector = pgvector.fromSql(row.embedding) as number[];
  return { itemId: row.item_id, vector };
}
