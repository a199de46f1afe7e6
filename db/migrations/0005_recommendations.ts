import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Full-text search over an item. IMMUTABLE (array_to_string is only STABLE in the catalog, but it is
  // immutable for text[]), so that an index can use it. English stemming: "things" finds "thing".
  await sql`
    CREATE FUNCTION marquee_item_document(title text, genres text[], tags text[], credits jsonb, description text)
    RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT setweight(to_tsvector('english', coalesce(title, '')), 'A')
          || setweight(to_tsvector('english', array_to_string(genres || tags, ' ')), 'B')
          || setweight(jsonb_to_tsvector('english', coalesce(credits, '[]'::jsonb), '["string"]'), 'C')
          || setweight(to_tsvector('english', left(coalesce(description, ''), 4000)), 'D')
    $$`.execute(db);
  // An expression index rather than a stored column: `SELECT *` on items stays lean, and a search computes
  // the document again only for the rows it ranks.
  await sql`
    CREATE INDEX items_search_document_idx ON items
      USING gin (marquee_item_document(title, genres, tags, credits, description))`.execute(db);
  await sql`CREATE INDEX items_release_year_idx ON items (release_year)`.execute(db);

  // A user's taste, kept up to date as their events arrive (see src/recommender/profile.ts): interest
  // vectors with their weight and the items behind them, a negative direction, and the weighted history
  // the collaborative source scores from. JSON rather than vector[]: read and written whole, never searched.
  await sql`
    CREATE TABLE user_profiles (
      user_id text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
      profile jsonb NOT NULL,
      embedding_model text,
      events_seen integer NOT NULL DEFAULT 0,
      last_event_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  // Item-to-item neighbours from the collaborative model, most similar first; rewritten by each training.
  // No foreign key: a deleted item's row is ignored by the join with items and replaced at the next training.
  await sql`
    CREATE TABLE item_neighbours (
      item_id text PRIMARY KEY,
      neighbour_ids text[] NOT NULL,
      scores real[] NOT NULL,
      model text NOT NULL,
      trained_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  // Popularity and time-decayed trending scores per item, recomputed with the collaborative model.
  await sql`
    CREATE TABLE item_stats (
      item_id text PRIMARY KEY,
      interactions integer NOT NULL DEFAULT 0,
      users integer NOT NULL DEFAULT 0,
      popularity real NOT NULL DEFAULT 0,
      trending_day real NOT NULL DEFAULT 0,
      trending_week real NOT NULL DEFAULT 0,
      trending_month real NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX item_stats_popularity_idx ON item_stats (popularity DESC)`.execute(db);
  await sql`CREATE INDEX item_stats_trending_week_idx ON item_stats (trending_week DESC)`.execute(db);

  // What each served page showed, for attribution: an event carrying the recommendationId is joined to
  // the position and sources of its item on that page.
  await sql`
    CREATE TABLE recommendation_impressions (
      recommendation_id text NOT NULL,
      position integer NOT NULL,
      item_id text NOT NULL,
      user_id text,
      endpoint text NOT NULL,
      variant text NOT NULL,
      sources text[] NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (recommendation_id, position)
    )`.execute(db);
  await sql`CREATE INDEX recommendation_impressions_created_at_idx ON recommendation_impressions (created_at)`.execute(
    db,
  );
  await sql`CREATE INDEX recommendation_impressions_user_idx ON recommendation_impressions (user_id) WHERE user_id IS NOT NULL`.execute(
    db,
  );
  await sql`CREATE INDEX events_recommendation_idx ON events (recommendation_id) WHERE recommendation_id IS NOT NULL`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS events_recommendation_idx`.execute(db);
  await sql`DROP TABLE IF EXISTS recommendation_impressions`.execute(db);
  await sql`DROP TABLE IF EXISTS item_stats`.execute(db);
  await sql`DROP TABLE IF EXISTS item_neighbours`.execute(db);
  await sql`DROP TABLE IF EXISTS user_profiles`.execute(db);
  await sql`DROP INDEX IF EXISTS items_release_year_idx`.execute(db);
  await sql`DROP INDEX IF EXISTS items_search_document_idx`.execute(db);
  await sql`DROP FUNCTION IF EXISTS marquee_item_document(text, text[], text[], jsonb, text)`.execute(db);
}
