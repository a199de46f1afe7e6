import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code. Later changes go in new migrations.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE EXTENSION IF NOT EXISTS vector`.execute(db);

  // Facts chosen when the database was created (embedding model and dimension, ...), checked at start-up.
  await sql`
    CREATE TABLE marquee_meta (
      key text PRIMARY KEY,
      value jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  await sql`
    CREATE TABLE items (
      id text PRIMARY KEY,
      type text NOT NULL,
      title text NOT NULL,
      description text,
      genres text[] NOT NULL DEFAULT '{}',
      tags text[] NOT NULL DEFAULT '{}',
      credits jsonb NOT NULL DEFAULT '[]',
      language text,
      release_date text,
      release_year integer,
      duration_seconds integer,
      maturity_rating text,
      regions text[] NOT NULL DEFAULT '{}',
      available_from timestamptz,
      available_until timestamptz,
      image_url text,
      url text,
      series_id text,
      attributes jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX items_type_id_idx ON items (type, id)`.execute(db);
  await sql`CREATE INDEX items_genres_idx ON items USING gin (genres)`.execute(db);
  await sql`CREATE INDEX items_updated_at_idx ON items (updated_at, id)`.execute(db);
  await sql`CREATE INDEX items_series_id_idx ON items (series_id) WHERE series_id IS NOT NULL`.execute(db);

  await sql`
    CREATE TABLE users (
      id text PRIMARY KEY,
      attributes jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  // Events keep their item id without a foreign key: a deleted item's history stays. Erasing a user
  // cascades to their events.
  await sql`
    CREATE TABLE events (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      dedup_key text NOT NULL UNIQUE,
      client_id text,
      user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      item_id text NOT NULL,
      type text NOT NULL,
      value real,
      occurred_at timestamptz NOT NULL,
      recommendation_id text,
      context jsonb,
      received_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX events_user_time_idx ON events (user_id, occurred_at DESC, seq DESC)`.execute(db);
  await sql`CREATE INDEX events_item_idx ON events (item_id, occurred_at DESC)`.execute(db);

  // The vector's dimension is set at start-up from marquee_meta (the embedder chosen for this database),
  // together with its HNSW index; see src/db/embedding-space.ts.
  await sql`
    CREATE TABLE item_embeddings (
      item_id text PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
      embedding vector NOT NULL,
      content_hash text NOT NULL,
      embedded_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS item_embeddings`.execute(db);
  await sql`DROP TABLE IF EXISTS events`.execute(db);
  await sql`DROP TABLE IF EXISTS users`.execute(db);
  await sql`DROP TABLE IF EXISTS items`.execute(db);
  await sql`DROP TABLE IF EXISTS marquee_meta`.execute(db);
}
