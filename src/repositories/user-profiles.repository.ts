import { type Kysely, type Selectable, sql } from 'kysely';
import type { Database, StoredProfile, UserProfilesTable } from '../db/database.ts';
import type { ProfileEvent } from '../recommender/profile.ts';

export type UserProfileRow = Selectable<UserProfilesTable>;

/** A profile to store, as src/recommender/profile.ts builds it, with what it was built from. */
export interface UserProfileWrite {
  userId: string;
  profile: StoredProfile;
  /** The embedding model the interest vectors are in; null when none could be built. */
  embeddingModel: string | null;
  eventsSeen: number;
  lastEventAt: Date | null;
}

export async function findUserProfile(
  db: Kysely<Database>,
  userId: string,
): Promise<UserProfileRow | undefined> {
  return db.selectFrom('user_profiles').selectAll().where('user_id', '=', userId).executeTakeFirst();
}

/**
 * A user's stored profile (undefined without one) and the distinct items they have events of these types
 * for, most recent first, at most `limit`: what a page needs of the user, in one round trip.
 */
export async function findUserProfileAndConsumed(
  db: Kysely<Database>,
  userId: string,
  consumedTypes: readonly string[],
  limit: number,
): Promise<{ profile: UserProfileRow | undefined; consumed: string[] }> {
  const { rows } = await sql<Partial<UserProfileRow> & { consumed: string[] | null }>`
    SELECT p.user_id, p.profile, p.embedding_model, p.events_seen, p.last_event_at, p.updated_at,
      ARRAY(
        SELECT e.item_id FROM events e
        WHERE e.user_id = ${userId} AND e.type = ANY(${[...consumedTypes]}::text[])
        GROUP BY e.item_id ORDER BY max(e.occurred_at) DESC LIMIT ${limit}
      ) AS consumed
    FROM (SELECT 1) AS one LEFT JOIN user_profiles p ON p.user_id = ${userId}`.execute(db);
  const { consumed, ...profile } = rows[0]!;
  return {
    profile:
      profile.user_id === null || profile.user_id === undefined ? undefined : (profile as UserProfileRow),
    consumed: consumed ?? [],
  };
}

/** Writes the profiles in one statement, replacing those already stored; returns how many were written. */
export async function upsertUserProfiles(
  db: Kysely<Database>,
  rows: readonly UserProfileWrite[],
): Promise<number> {
  if (rows.length === 0) return 0;
  const result = await db
    .insertInto('user_profiles')
    .values(
      rows.map((row) => ({
        user_id: row.userId,
        profile: JSON.stringify(row.profile),
        embedding_model: row.embeddingModel,
        events_seen: row.eventsSeen,
        last_event_at: row.lastEventAt,
      })),
    )
    .onConflict((conflict) =>
      conflict.column('user_id').doUpdateSet((eb) => ({
        profile: eb.ref('excluded.profile'),
        embedding_model: eb.ref('excluded.embedding_model'),
        events_seen: eb.ref('excluded.events_seen'),
        last_event_at: eb.ref('excluded.last_event_at'),
        updated_at: sql<Date>`now()`,
      })),
    )
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0);
}

export async function deleteUserProfiles(db: Kysely<Database>, userIds: readonly string[]): Promise<number> {
  if (userIds.length === 0) return 0;
  const result = await db
    .deleteFrom('user_profiles')
    .where('user_id', '=', sql<string>`ANY(${[...userIds]}::text[])`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Of these users, those that exist, each row locked until the transaction ends (in id order, so two callers
 * cannot deadlock): two refreshes of one user then run one after the other, and the later one, which reads
 * the events after the earlier one's, writes last. FOR NO KEY UPDATE leaves inserting events (whose foreign
 * key takes KEY SHARE) unblocked.
 */
export async function lockExistingUsers(db: Kysely<Database>, userIds: readonly string[]): Promise<string[]> {
  if (userIds.length === 0) return [];
  const rows = await db
    .selectFrom('users')
    .select('id')
    .where('id', '=', sql<string>`ANY(${[...userIds]}::text[])`)
    .orderBy('id')
    .forNoKeyUpdate()
    .execute();
  return rows.map((row) => row.id);
}

/**
 * Each user's latest `maxEventsPerUser` events (newest first), in one query: a LATERAL subquery per user
 * walks events_user_time_idx backwards and stops at the limit. Users without events are left out.
 */
export async function loadProfileEvents(
  db: Kysely<Database>,
  userIds: readonly string[],
  maxEventsPerUser: number,
): Promise<Map<string, ProfileEvent[]>> {
  const byUser = new Map<string, ProfileEvent[]>();
  if (userIds.length === 0) return byUser;
  const rows = await db
    .selectFrom(
      db.selectNoFrom(sql<string>`unnest(${[...new Set(userIds)]}::text[])`.as('user_id')).as('wanted'),
    )
    .innerJoinLateral(
      (eb) =>
        eb
          .selectFrom('events')
          .select(['events.item_id', 'events.type', 'events.value', 'events.occurred_at'])
          .whereRef('events.user_id', '=', 'wanted.user_id')
          .orderBy('events.occurred_at', 'desc')
          .orderBy('events.seq', 'desc')
          .limit(maxEventsPerUser)
          .as('latest'),
      (join) => join.onTrue(),
    )
    .select(['wanted.user_id', 'latest.item_id', 'latest.type', 'latest.value', 'latest.occurred_at'])
    .execute();
  for (const row of rows) {
    const event: ProfileEvent = {
      itemId: row.item_id,
      type: row.type,
      value: row.value,
      occurredAt: row.occurred_at,
    };
    const list = byUser.get(row.user_id);
    if (list) list.push(event);
    else byUser.set(row.user_id, [event]);
  }
  return byUser;
}

/**
 * The stored (serving) embeddings of these items; items without one are left out. Read as pgvector's text
 * form, `[0.1,-0.2,...]`, which is valid JSON: the same in both drivers, which register no vector type.
 */
export async function findItemEmbeddings(
  db: Kysely<Database>,
  itemIds: readonly string[],
): Promise<Map<string, Float32Array>> {
  const embeddings = new Map<string, Float32Array>();
  if (itemIds.length === 0) return embeddings;
  const rows = await db
    .selectFrom('item_embeddings')
    .select(['item_id', sql<string>`embedding::text`.as('embedding')])
    .where('item_id', '=', sql<string>`ANY(${[...new Set(itemIds)]}::text[])`)
    .execute();
  for (const row of rows) embeddings.set(row.item_id, parseVectorText(row.embedding));
  return embeddings;
}

/** pgvector's text output, `[1,2.5,-3e-05]`, as floats. */
export function parseVectorText(text: string): Float32Array {
  return Float32Array.from(JSON.parse(text) as number[]);
}
