import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  // The LLM explainer checks that an explanation names no catalog title the prompt did not hold: it looks
  // the sentence's capitalised phrases up by lower-cased title, once per explained page.
  await sql`CREATE INDEX items_title_lower_idx ON items (lower(title))`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS items_title_lower_idx`.execute(db);
}
