import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Processes hold the neighbour lists in memory (issue 20) and reload them after a training; an erasure edits
  // a few lists in place, and this says which: the processes reread only the rows edited since they last
  // looked. clock_timestamp(), not now(): a long training transaction would otherwise date every row to its
  // start.
  await sql`ALTER TABLE item_neighbours ADD COLUMN updated_at timestamptz NOT NULL DEFAULT clock_timestamp()`.execute(
    db,
  );
  await sql`CREATE INDEX item_neighbours_updated_at_idx ON item_neighbours (updated_at)`.execute(db);
  // The same for the item vectors they hold: which embeddings were written since. Both tables, which swap
  // names when `marquee reembed` ends (the indexes keep theirs: only the table's matters).
  await sql`CREATE INDEX item_embeddings_embedded_at_idx ON item_embeddings (embedded_at)`.execute(db);
  await sql`CREATE INDEX item_embeddings_next_embedded_at_idx ON item_embeddings_next (embedded_at)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS item_embeddings_embedded_at_idx`.execute(db);
  await sql`DROP INDEX IF EXISTS item_embeddings_next_embedded_at_idx`.execute(db);
  await sql`DROP INDEX IF EXISTS item_neighbours_updated_at_idx`.execute(db);
  await sql`ALTER TABLE item_neighbours DROP COLUMN IF EXISTS updated_at`.execute(db);
}
