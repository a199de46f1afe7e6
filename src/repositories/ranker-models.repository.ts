import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.ts';
import type { ShownList } from '../recommender/ranking/ranker-training.ts';

// The learned rankers each training stores (src/services/model-training.service.ts) and every process
// loads (src/services/model-snapshot.service.ts).

/** Rankers kept: the latest few, for GET /v1/admin/models and to fall back on. */
const KEPT_RANKERS = 5;

export interface StoredRanker {
  id: string;
  trainedAt: Date;
  serving: boolean;
  verdict: string;
  report: unknown;
}

export interface ServingRanker extends StoredRanker {
  model: unknown;
  catalog: Uint8Array;
}

export async function insertRankerModel(
  db: Kysely<Database>,
  ranker: { serving: boolean; verdict: string; report: unknown; model: unknown; catalog: Uint8Array },
): Promise<string> {
  const row = await db
    .insertInto('ranker_models')
    .values({
      serving: ranker.serving,
      verdict: ranker.verdict,
      report: JSON.stringify(ranker.report),
      model: JSON.stringify(ranker.model),
      catalog: ranker.catalog,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  // Older rows go, except the one serving (a rejected ranker leaves it in service).
  await sql`
    DELETE FROM ranker_models
    WHERE id < (SELECT min(id) FROM (SELECT id FROM ranker_models ORDER BY id DESC LIMIT ${KEPT_RANKERS}) AS kept)
      AND id <> coalesce((SELECT max(id) FROM ranker_models WHERE serving), 0)`.execute(db);
  return String(row.id);
}

/** The ranker in service is the latest stored with serving = true (one query shape for every reader). */
const servingRanker = (db: Kysely<Database>) =>
  db.selectFrom('ranker_models').where('serving', '=', true).orderBy('id', 'desc').limit(1);

export async function findServingRanker(db: Kysely<Database>): Promise<ServingRanker | undefined> {
  const row = await servingRanker(db).selectAll().executeTakeFirst();
  return row === undefined
    ? undefined
    : {
        id: String(row.id),
        trainedAt: new Date(row.trained_at),
        serving: row.serving,
        verdict: row.verdict,
        report: row.report,
        model: row.model,
        catalog: row.catalog,
      };
}

/** The trees of the ranker in service (no catalog), to measure a new one against. */
export async function findServingRankerModel(db: Kysely<Database>): Promise<unknown> {
  const row = await servingRanker(db).select('model').executeTakeFirst();
  return row?.model;
}

/** The latest rankers, newest first, without their models. */
export async function listRankerModels(db: Kysely<Database>, limit: number): Promise<StoredRanker[]> {
  const rows = await db
    .selectFrom('ranker_models')
    .select(['id', 'trained_at', 'serving', 'verdict', 'report'])
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    id: String(row.id),
    trainedAt: new Date(row.trained_at),
    serving: row.serving,
    verdict: row.verdict,
    report: row.report,
  }));
}

/** Genres, release year, type and credits of every item (the ranker's catalog facts), one round trip. */
export async function findRankingFacts(
  db: Kysely<Database>,
): Promise<
  Map<
    string,
    { genres: string[]; releaseYear: number | null; type: string; credits: { name: string; role: string }[] }
  >
> {
  const rows = await db
    .selectFrom('items')
    .select(['id', 'genres', 'release_year', 'type', 'credits'])
    .execute();
  return new Map(
    rows.map((row) => [
      row.id,
      { genres: row.genres, releaseYear: row.release_year, type: row.type, credits: row.credits },
    ]),
  );
}

/**
 * The most recent lists shown to known users on which they then acted: each recommendationId's impressions
 * in page order, with, per item, whether a positive event (of `types`) carrying that recommendationId
 * followed. Lists without any such event are left out (nothing to learn from them).
 */
export async function findShownLists(
  db: Kysely<Database>,
  types: readonly string[],
  limit: number,
): Promise<ShownList[]> {
  if (types.length === 0 || limit <= 0) return [];
  const rows = await sql<{
    user_id: string;
    shown_at: Date | string;
    item_ids: string[];
    positions: number[];
    clicked: boolean[];
  }>`
    WITH acted AS (
      SELECT DISTINCT recommendation_id, item_id FROM events
      WHERE recommendation_id IS NOT NULL AND type = ANY(${[...types]}::text[])
    ), lists AS (
      SELECT recommendation_id, max(created_at) AS latest FROM recommendation_impressions
      WHERE user_id IS NOT NULL
        AND recommendation_id IN (SELECT recommendation_id FROM acted)
      GROUP BY recommendation_id
      ORDER BY latest DESC
      LIMIT ${limit}
    )
    SELECT shown.user_id, min(shown.created_at) AS shown_at,
      array_agg(shown.item_id ORDER BY shown.position) AS item_ids,
      array_agg(shown.position ORDER BY shown.position) AS positions,
      array_agg(acted.item_id IS NOT NULL ORDER BY shown.position) AS clicked
    FROM recommendation_impressions shown
    JOIN lists ON lists.recommendation_id = shown.recommendation_id
    LEFT JOIN acted ON acted.recommendation_id = shown.recommendation_id AND acted.item_id = shown.item_id
    WHERE shown.user_id IS NOT NULL
    GROUP BY shown.recommendation_id, shown.user_id`.execute(db);
  return rows.rows.map((row) => ({
    userId: row.user_id,
    time: new Date(row.shown_at).getTime(),
    itemIds: row.item_ids,
    positions: row.positions.map(Number),
    clicked: row.clicked,
  }));
}
