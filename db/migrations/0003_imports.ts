import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  // The hash of the text an item is embedded from (fields, embedder). An item needs embedding when its
  // item_embeddings row is missing or holds another hash.
  await sql`ALTER TABLE items ADD COLUMN embedding_text_hash text`.execute(db);

  // One bulk import: what was asked, what the reader saw, and how it ended. The counts of what the writes
  // did live in import_batches, one row per batch, written in the batch's own transaction.
  await sql`
    CREATE TABLE imports (
      id text PRIMARY KEY,
      kind text NOT NULL,
      format text NOT NULL,
      mode text NOT NULL,
      status text NOT NULL,
      source text,
      options jsonb NOT NULL DEFAULT '{}',
      received integer NOT NULL DEFAULT 0,
      rejected integer NOT NULL DEFAULT 0,
      errors jsonb NOT NULL DEFAULT '[]',
      batches_total integer,
      failure text,
      created_at timestamptz NOT NULL DEFAULT now(),
      read_at timestamptz,
      finished_at timestamptz
    )`.execute(db);
  await sql`CREATE INDEX imports_created_at_idx ON imports (created_at DESC)`.execute(db);

  await sql`
    CREATE TABLE import_batches (
      import_id text NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
      batch_no integer NOT NULL,
      inserted integer NOT NULL DEFAULT 0,
      updated integer NOT NULL DEFAULT 0,
      unchanged integer NOT NULL DEFAULT 0,
      deleted integer NOT NULL DEFAULT 0,
      failed integer NOT NULL DEFAULT 0,
      embedded integer NOT NULL DEFAULT 0,
      errors jsonb NOT NULL DEFAULT '[]',
      -- Set once the batch's items are embedded too; until then the import is not done.
      finished_at timestamptz,
      PRIMARY KEY (import_id, batch_no)
    )`.execute(db);

  // Ids seen by a full-catalog sync, to delete the items absent from the file at the end.
  await sql`
    CREATE TABLE import_seen_ids (
      import_id text NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
      id text NOT NULL,
      PRIMARY KEY (import_id, id)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS import_seen_ids`.execute(db);
  await sql`DROP TABLE IF EXISTS import_batches`.execute(db);
  await sql`DROP TABLE IF EXISTS imports`.execute(db);
  await sql`ALTER TABLE items DROP COLUMN IF EXISTS embedding_text_hash`.execute(db);
}
