import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Search ranked by recomputing each matching item's document (and four per-field documents): a two-word
  // query matching thousands of items cost a second (issue 20). The document is now stored, in a table of its
  // own so that `SELECT *` on items stays lean, kept by triggers in the statement that writes the items (one
  // INSERT ... SELECT per statement, not one per row), and indexed. Its weights say which field each word
  // came from (A title, B genres and tags, C credits, D description), so a search never recomputes it.
  await sql`
    CREATE TABLE item_search_documents (
      item_id text PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
      document tsvector NOT NULL
    )`.execute(db);
  await sql`
    INSERT INTO item_search_documents (item_id, document)
    SELECT id, marquee_item_document(title, genres, tags, credits, description) FROM items`.execute(db);
  await sql`CREATE INDEX item_search_documents_document_idx ON item_search_documents USING gin (document)`.execute(
    db,
  );
  await sql`DROP INDEX IF EXISTS items_search_document_idx`.execute(db);
  await sql`
    CREATE FUNCTION marquee_store_item_search_documents() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO item_search_documents (item_id, document)
      SELECT id, marquee_item_document(title, genres, tags, credits, description) FROM written_items
      ON CONFLICT (item_id) DO UPDATE SET document = excluded.document;
      RETURN NULL;
    END
    $$`.execute(db);
  for (const event of ['INSERT', 'UPDATE'])
    await sql`
      CREATE TRIGGER ${sql.raw(`items_search_documents_${event.toLowerCase()}`)}
      AFTER ${sql.raw(event)} ON items REFERENCING NEW TABLE AS written_items
      FOR EACH STATEMENT EXECUTE FUNCTION marquee_store_item_search_documents()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TRIGGER IF EXISTS items_search_documents_insert ON items`.execute(db);
  await sql`DROP TRIGGER IF EXISTS items_search_documents_update ON items`.execute(db);
  await sql`DROP FUNCTION IF EXISTS marquee_store_item_search_documents()`.execute(db);
  await sql`DROP TABLE IF EXISTS item_search_documents`.execute(db);
  await sql`
    CREATE INDEX items_search_document_idx ON items
      USING gin (marquee_item_document(title, genres, tags, credits, description))`.execute(db);
}
