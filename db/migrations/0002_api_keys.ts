import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Only a hash of each key is stored; `id` is the key's visible prefix (mq_xxxxxxxx), shown in lists.
  await sql`
    CREATE TABLE api_keys (
      id text PRIMARY KEY,
      name text NOT NULL,
      scopes text[] NOT NULL,
      secret_hash text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS api_keys`.execute(db);
}
