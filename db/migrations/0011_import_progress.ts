import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  // So that every import ends (issue 16): when it last moved (records read, a batch finished), when its reader
  // last said it was alive, and how many batches the reader has handed to the queue. An import that has not
  // moved for MARQUEE_IMPORT_STALL_SECONDS is taken up by a sweeper (any process: it claims the row).
  await sql`ALTER TABLE imports ADD COLUMN progress_at timestamptz NOT NULL DEFAULT now()`.execute(db);
  await sql`ALTER TABLE imports ADD COLUMN reader_alive_at timestamptz NOT NULL DEFAULT now()`.execute(db);
  await sql`ALTER TABLE imports ADD COLUMN batches_submitted integer NOT NULL DEFAULT 0`.execute(db);
  // Items an import stored but could not embed (the embedder failed after its retries): embedded later.
  await sql`ALTER TABLE imports ADD COLUMN embeddings_pending boolean NOT NULL DEFAULT false`.execute(db);
  // The sweeper's one query a period reads these two small partial indexes, whatever the number of imports.
  await sql`
    CREATE INDEX imports_unfinished_progress_idx ON imports (progress_at)
    WHERE status IN ('receiving', 'processing')`.execute(db);
  await sql`CREATE INDEX imports_embeddings_pending_idx ON imports (id) WHERE embeddings_pending`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS imports_embeddings_pending_idx`.execute(db);
  await sql`DROP INDEX IF EXISTS imports_unfinished_progress_idx`.execute(db);
  await sql`ALTER TABLE imports DROP COLUMN IF EXISTS embeddings_pending`.execute(db);
  await sql`ALTER TABLE imports DROP COLUMN IF EXISTS batches_submitted`.execute(db);
  await sql`ALTER TABLE imports DROP COLUMN IF EXISTS reader_alive_at`.execute(db);
  await sql`ALTER TABLE imports DROP COLUMN IF EXISTS progress_at`.execute(db);
}
