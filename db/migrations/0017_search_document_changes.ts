import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Processes hold the search documents in memory as an inverted index (issue 20) and read the documents
  // written since they last looked: when each was written, indexed. The existing rows get the migration's
  // time (a constant default: no table rewrite); later writes clock_timestamp(), and only when the document
  // really changed (an upsert that leaves an item's text as it was does not make processes reread it).
  await sql`ALTER TABLE item_search_documents ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now()`.execute(
    db,
  );
  await sql`ALTER TABLE item_search_documents ALTER COLUMN updated_at SET DEFAULT clock_timestamp()`.execute(
    db,
  );
  await sql`CREATE INDEX item_search_documents_updated_at_idx ON item_search_documents (updated_at)`.execute(
    db,
  );
  await sql`
    CREATE OR REPLACE FUNCTION marquee_store_item_search_documents() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO item_search_documents (item_id, document)
      SELECT id, marquee_item_document(title, genres, tags, credits, description) FROM written_items
      ON CONFLICT (item_id) DO UPDATE SET document = excluded.document, updated_at = clock_timestamp()
        WHERE item_search_documents.document IS DISTINCT FROM excluded.document;
      RETURN NULL;
    END
    $$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION marquee_store_item_search_documents() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO item_search_documents (item_id, document)
      SELECT id, marquee_item_document(title, genres, tags, credits, description) FROM written_items
      ON CONFLICT (item_id) DO UPDATE SET document = excluded.document;
      RETURN NULL;
    END
    $$`.execute(db);
  await sql`DROP INDEX IF EXISTS item_search_documents_updated_at_idx`.execute(db);
  await sql`ALTER TABLE item_search_documents DROP COLUMN IF EXISTS updated_at`.execute(db);
}
