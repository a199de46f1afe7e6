import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.ts';

/** Until when the user's tokens are revoked, or undefined when they never were. */
export async function findTokensRevokedThrough(
  db: Kysely<Database>,
  userId: string,
): Promise<Date | undefined> {
  const row = await db
    .selectFrom('user_token_revocations')
    .select('revoked_through')
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row?.revoked_through;
}

/** Revokes every token of the user issued up to `through` (a later revocation only moves it forward). */
export async function revokeUserTokensThrough(
  db: Kysely<Database>,
  userId: string,
  through: Date,
): Promise<void> {
  await db
    .insertInto('user_token_revocations')
    .values({ user_id: userId, revoked_through: through })
    .onConflict((conflict) =>
      conflict.column('user_id').doUpdateSet({
        revoked_through: sql<Date>`greatest(user_token_revocations.revoked_through, excluded.revoked_through)`,
      }),
    )
    .execute();
}
