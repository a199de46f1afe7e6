import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { buildApp } from './app.ts';
import { createMemoryCache } from './cache/memory-cache.ts';
import { loadConfig } from './config.ts';
import type { DatabaseHandle } from './db/connect.ts';
import type { Database } from './db/database.ts';

/**
 * The OpenAPI document exactly as the server serves it at /openapi.json. The routes are registered on a
 * database client that never connects (Kysely connects on first query), so no database is needed.
 */
export async function generateOpenApiDocument(): Promise<Record<string, unknown>> {
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ host: '127.0.0.1', port: 1, max: 1 }) }),
  });
  const database: DatabaseHandle = {
    db,
    mode: 'postgres',
    load: { waiting: 0, inUse: 0, saturated: false },
    ping: () => Promise.reject(new Error('not connected')),
    close: () => db.destroy(),
  };
  const app = await buildApp({
    config: loadConfig({ LOG_LEVEL: 'silent' }),
    database,
    cache: createMemoryCache(),
  });
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
  }
}

/** The committed form of the document: stable key order from the generator, two-space indent, final newline. */
export function serializeOpenApiDocument(document: Record<string, unknown>): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
