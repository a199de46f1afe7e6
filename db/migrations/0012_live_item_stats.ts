import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  // Live statistics (issue 18): item_stats changes as events are accepted instead of being rewritten by each
  // training. A trending score is now the natural log of Σ exp(λ·(t − 2000-01-01)) over an item's positive
  // events (λ = ln 2 / half-life, t in seconds): against a fixed reference time, so that adding an event is
  // one log-add and time never rewrites a row (every item decays alike, so the order is the order of the
  // decayed sums at any moment). float8: the values grow by about 250 a year for the one-day half-life.
  // The old values (decayed sums against the latest event) mean something else: the rows go, and the
  // application rebuilds them from events (it knows which event types count).
  await sql`TRUNCATE item_stats`.execute(db);
  for (const column of ['trending_day', 'trending_week', 'trending_month'])
    await sql`ALTER TABLE item_stats ALTER COLUMN ${sql.ref(column)} TYPE double precision`.execute(db);
  await sql`CREATE INDEX item_stats_trending_day_idx ON item_stats (trending_day DESC)`.execute(db);
  await sql`CREATE INDEX item_stats_trending_month_idx ON item_stats (trending_month DESC)`.execute(db);
  // ln(e^a + e^b) without overflow; exp() of a very negative number is an underflow error in Postgres, so the
  // gap is bounded (e^-700 adds nothing to a float8 anyway).
  await sql`
    CREATE FUNCTION marquee_log_add(a double precision, b double precision)
    RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT greatest(a, b) + ln(1 + exp(greatest(-abs(a - b), -700)))
    $$`.execute(db);
  // Which statistics describe what: the event types that counted when item_stats was last rebuilt.
  await sql`DELETE FROM marquee_meta WHERE key = 'item_stats'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP FUNCTION IF EXISTS marquee_log_add(double precision, double precision)`.execute(db);
  await sql`DROP INDEX IF EXISTS item_stats_trending_month_idx`.execute(db);
  await sql`DROP INDEX IF EXISTS item_stats_trending_day_idx`.execute(db);
  await sql`TRUNCATE item_stats`.execute(db);
  for (const column of ['trending_day', 'trending_week', 'trending_month'])
    await sql`ALTER TABLE item_stats ALTER COLUMN ${sql.ref(column)} TYPE real`.execute(db);
}
