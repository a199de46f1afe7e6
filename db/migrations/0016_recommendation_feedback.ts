import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Thumbs up or down on a recommended item or on its explanation, and "not interested" (issue 19): kept
  // apart from events because an explanation is not an item, and counted by source and variant through the
  // page's recommendationId. Erased with the user, gone with the item.
  await sql`
    CREATE TABLE recommendation_feedback (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      item_id text NOT NULL REFERENCES items (id) ON DELETE CASCADE,
      recommendation_id text,
      target text NOT NULL CHECK (target IN ('item', 'explanation')),
      value text NOT NULL CHECK (value IN ('up', 'down', 'not_interested')),
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`
    CREATE INDEX recommendation_feedback_page_idx ON recommendation_feedback (recommendation_id, item_id)
    WHERE recommendation_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX recommendation_feedback_user_idx ON recommendation_feedback (user_id, id)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS recommendation_feedback`.execute(db);
}
