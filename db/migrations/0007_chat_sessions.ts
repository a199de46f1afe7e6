import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  // A conversation with POST /v1/chat: its turns (each message, the query it was understood as, the items
  // returned and the reply) as one JSON array, read and written whole and capped in length by the service.
  // user_id is null for anonymous visitors; a known user's sessions go with them on erasure (cascade).
  await sql`
    CREATE TABLE chat_sessions (
      id text PRIMARY KEY,
      user_id text REFERENCES users (id) ON DELETE CASCADE,
      turns jsonb NOT NULL DEFAULT '[]'::jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL
    )`.execute(db);
  // The hourly purge deletes by expiry; export and erasure look sessions up by user.
  await sql`CREATE INDEX chat_sessions_expires_at_idx ON chat_sessions (expires_at)`.execute(db);
  await sql`CREATE INDEX chat_sessions_user_idx ON chat_sessions (user_id) WHERE user_id IS NOT NULL`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS chat_sessions`.execute(db);
}
