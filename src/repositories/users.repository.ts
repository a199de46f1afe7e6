import { type Kysely, sql } from 'kysely';
import type { Database, UserRow } from '../db/database.ts';

export async function findUserById(db: Kysely<Database>, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function upsertUser(
  db: Kysely<Database>,
  id: string,
  attributes: Record<string, unknown>,
): Promise<{ user: UserRow; created: boolean }> {
  const result = await db
    .insertInto('users')
    .values({ id, attributes: JSON.stringify(attributes) })
    .onConflict((conflict) =>
      conflict
        .column('id')
        .doUpdateSet({ attributes: JSON.stringify(attributes), updated_at: sql<Date>`now()` }),
    )
    .returningAll()
    .returning(sql<boolean>`(xmax = 0)`.as('created'))
    .executeTakeFirstOrThrow();
  const { created, ...user } = result;
  return { user, created };
}

/** The stored users among these ids, locked for update (an import merging into them), in id order. */
export async function findUsersByIdsForUpdate(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<UserRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('users').selectAll().where('id', 'in', ids).orderBy('id').forUpdate().execute();
}

/** Creates the users that don't exist yet, with empty attributes (users first seen through their events). */
export async function ensureUsersExist(db: Kysely<Database>, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db
    .insertInto('users')
    .values([...new Set(ids)].sort().map((id) => ({ id })))
    .onConflict((conflict) => conflict.column('id').doNothing())
    .execute();
}

/** Deletes the user; their events go with them (ON DELETE CASCADE). */
/**
 * Deletes the user with everything about them: events, profile and chat sessions cascade; the pages they were shown
 * (impressions, kept without a foreign key so that stats survive item deletions) go here, in one transaction.
 */
export async function deleteUser(db: Kysely<Database>, id: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await trx.deleteFrom('recommendation_impressions').where('user_id', '=', id).execute();
    const result = await trx.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  });
}
