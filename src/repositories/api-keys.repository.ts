import type { Kysely } from 'kysely';
import type { ApiKeyRow, Database } from '../db/database.ts';

export async function insertApiKey(
  db: Kysely<Database>,
  key: { id: string; name: string; scopes: string[]; secretHash: string },
): Promise<ApiKeyRow> {
  return db
    .insertInto('api_keys')
    .values({ id: key.id, name: key.name, scopes: key.scopes, secret_hash: key.secretHash })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findApiKeyById(db: Kysely<Database>, id: string): Promise<ApiKeyRow | undefined> {
  return db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listApiKeys(db: Kysely<Database>): Promise<ApiKeyRow[]> {
  return db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id').execute();
}

/** Marks a key revoked; returns false when there is no such key. Revoking twice keeps the first time. */
export async function revokeApiKey(db: Kysely<Database>, id: string): Promise<boolean> {
  const result = await db
    .updateTable('api_keys')
    .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.fn<Date>('now')) }))
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function touchApiKey(db: Kysely<Database>, id: string, at: Date): Promise<void> {
  await db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
}

export async function countApiKeys(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<string | number>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}
