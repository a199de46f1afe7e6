import { type Kysely, sql } from 'kysely';

// Frozen in time: this file must never import application code.

export async function up(db: Kysely<unknown>): Promise<void> {
  // The learned ranker (issue 19): each training stores its trees (jsonb), the report that decided whether
  // it serves, and the catalog it ranks with (the collaborative sources' neighbour lists and the item
  // statistics, as one binary artefact). Every process loads the latest row that serves.
  await sql`
    CREATE TABLE ranker_models (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      trained_at timestamptz NOT NULL DEFAULT now(),
      serving boolean NOT NULL,
      verdict text NOT NULL,
      report jsonb NOT NULL,
      model jsonb NOT NULL,
      catalog bytea NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX ranker_models_serving_idx ON ranker_models (id) WHERE serving`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS ranker_models`.execute(db);
}
