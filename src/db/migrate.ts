import type { Kysely } from 'kysely';
import { type MigrationResult, Migrator } from 'kysely/migration';
import { migrations } from '../../db/migrations/index.ts';
import type { Database } from './database.ts';

export class MigrationError extends Error {
  readonly results: readonly MigrationResult[];

  constructor(message: string, results: readonly MigrationResult[], options?: ErrorOptions) {
    super(message, options);
    this.name = 'MigrationError';
    this.results = results;
  }
}

/**
 * Brings the schema to the latest migration. On Postgres, Kysely's migrator holds a session-level
 * `pg_advisory_lock` for the whole run, so replicas that start together take turns instead of racing.
 * Returns the names of the migrations that ran.
 */
export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error) {
    const failed = results.find((result) => result.status === 'Error');
    throw new MigrationError(
      `migration ${failed?.migrationName ?? '(setup)'} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
      results,
      { cause: error },
    );
  }
  return results.filter((result) => result.status === 'Success').map((result) => result.migrationName);
}
