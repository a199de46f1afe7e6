import { mkdir } from 'node:fs/promises';
import { Kysely, PGliteDialect, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { type Config, DEFAULT_HNSW_EF_SEARCH } from '../config.ts';
import { applySessionSettings, vectorSearchSettings } from '../repositories/vector-index.repository.ts';
import { type DatabaseLoad, withConnectionQueue } from './connection-queue.ts';
import type { Database } from './database.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { RemotePGlite } from './pglite-remote.ts';

export type DatabaseMode = 'embedded' | 'postgres';

/** A database client with what the rest of the app needs to know about it. */
export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly mode: DatabaseMode;
  /** The pg pool's live counts (served mode), for metrics. */
  readonly pool?: { readonly totalCount: number; readonly idleCount: number; readonly waitingCount: number };
  /** Callers waiting for a connection, and whether every connection is in use (load shedding, /readyz). */
  readonly load: DatabaseLoad;
  /** Round trip to the database; throws when it is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export async function connectDatabase(config: Config['database']): Promise<DatabaseHandle> {
  const efSearch = config.hnswEfSearch ?? DEFAULT_HNSW_EF_SEARCH;
  return config.kind === 'postgres'
    ? connectPostgres(config.url, config.poolSize, vectorSearchSettings(efSearch, 'postgres'))
    : connectEmbedded(config.dataDir, vectorSearchSettings(efSearch, 'embedded'));
}

async function connectEmbedded(
  dataDir: string,
  settings: Readonly<Record<string, string>>,
): Promise<DatabaseHandle> {
  let unlock = async () => {};
  if (dataDir !== 'memory') {
    await mkdir(dataDir, { recursive: true });
    unlock = await lockDataDir(dataDir);
  }
  const pglite = new RemotePGlite(dataDir);
  try {
    await pglite.waitReady;
  } catch (error) {
    await unlock();
    throw error;
  }
  // One session, which Kysely lends to one caller at a time.
  const queue = withConnectionQueue(new PGliteDialect({ pglite }), 1);
  const db = new Kysely<Database>({ dialect: queue.dialect });
  // One session for the life of the database: its settings are made once.
  await applySessionSettings(db, settings).catch(async (error: unknown) => {
    await db.destroy();
    await pglite.close();
    await unlock();
    throw error;
  });
  return {
    db,
    mode: 'embedded',
    load: queue.load,
    ping: async () => {
      await sql`SELECT 1`.execute(db);
    },
    close: async () => {
      await db.destroy();
      // Kysely only closes PGlite once it has run a query; make sure the worker always ends.
      await pglite.close();
      await unlock();
    },
  };
}

async function connectPostgres(
  url: string,
  poolSize: number,
  settings: Readonly<Record<string, string>>,
): Promise<DatabaseHandle> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // Session settings sent with each connection's start-up packet, so no query runs without them. The
    // hnsw.* names are placeholders until pgvector loads; it then takes their values as its own.
    options: Object.entries(settings)
      .map(([name, value]) => `-c ${name}=${value}`)
      .join(' '),
    // Fail a request quickly when Postgres is gone instead of queueing it forever.
    connectionTimeoutMillis: 3_000,
    idleTimeoutMillis: 30_000,
    application_name: 'marquee',
  });
  // A client losing its connection (Postgres restart, network cut) must never crash the process: pg emits an
  // 'error' event on the client, fatal when nothing listens. Queries still fail through their promises, the
  // pool drops the client and connects a new one for the next query.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const queue = withConnectionQueue(new PostgresDialect({ pool }), poolSize);
  const db = new Kysely<Database>({ dialect: queue.dialect });
  const handle: DatabaseHandle = {
    db,
    mode: 'postgres',
    pool,
    load: queue.load,
    ping: async () => {
      await sql`SELECT 1`.execute(db);
    },
    close: () => db.destroy(),
  };
  await handle.ping();
  return handle;
}
