import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Where `marquee reembed` builds the vectors of the next embedding space while item_embeddings keeps
  // serving; the two tables swap names when it is done. Like item_embeddings, the vector's dimension is set
  // at run time (the target space's), together with its HNSW index; see src/embedding/reembed.ts.
  await sql`
    CREATE TABLE item_embeddings_next (
      item_id text PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
      embedding vector NOT NULL,
      content_hash text NOT NULL,
      embedded_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS item_embeddings_next`.execute(db);
}
