import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Erasing a user revokes every user token minted for them until that moment: a token issued at or before
  // `revoked_through` (whole seconds, as the token's iat) is refused, so it cannot re-create the erased user.
  await sql`
    CREATE TABLE user_token_revocations (
      user_id text PRIMARY KEY,
      revoked_through timestamptz NOT NULL
    )
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS user_token_revocations`.execute(db);
}
