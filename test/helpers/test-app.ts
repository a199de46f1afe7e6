import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { pino } from 'pino';
import type { Test } from 'tap';
import { type AppDependencies, buildApp } from '../../src/app.ts';
import type { Cache } from '../../src/cache/cache.ts';
import { createMemoryCache } from '../../src/cache/memory-cache.ts';
import { openRedisCache } from '../../src/cache/redis-cache.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { connectDatabase, type DatabaseHandle } from '../../src/db/connect.ts';
import { ensureEmbeddingSpace } from '../../src/db/embedding-space.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';

/** Which mode the suite runs in: CI runs it once embedded and once against real Postgres + Redis. */
export const servedMode = Boolean(process.env.DATABASE_URL);
export const redisUrl = process.env.REDIS_URL;

/**
 * Names of what the served suite creates on shared servers (databases, Redis key prefixes): unique to this
 * run and to each use, so that the suite can run beside another run, or another user, of the same servers.
 */
export function uniqueTestName(kind: 'database' | 'redis'): string {
  const id = `${RUN_ID}_${randomBytes(4).toString('hex')}`;
  return kind === 'database' ? `marquee_test_${id}` : `marquee-test:${id}:`;
}
const RUN_ID = randomBytes(6).toString('hex');

/** The admin key every test app accepts (MARQUEE_ADMIN_KEY). */
export const TEST_ADMIN_KEY = 'test-admin-key-0123456789-abcdefghij';

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    LOG_LEVEL: 'silent',
    MARQUEE_DATA_DIR: 'memory',
    MARQUEE_ADMIN_KEY: TEST_ADMIN_KEY,
    // Tests walk many wrong credentials from one address; the limit has its own test.
    MARQUEE_AUTH_FAILURES_PER_MINUTE: '1000000',
    ...overrides,
  });
}

/** Adds the admin key to a request unless it sets its own authorization header. */
export function asAdmin(options: InjectOptions): InjectOptions {
  return { ...options, headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, ...options.headers } };
}

/**
 * A fresh, empty database for one test: an in-memory PGlite, or (when DATABASE_URL is set) a new database
 * created on that server and dropped at teardown. Not yet migrated.
 */
export async function freshDatabaseConfig(t: Test): Promise<Config['database']> {
  const baseUrl = process.env.DATABASE_URL;
  if (!baseUrl) return { kind: 'embedded', dataDir: 'memory' };
  const name = uniqueTestName('database');
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  t.teardown(async () => {
    const dropper = new pg.Client({ connectionString: baseUrl });
    await dropper.connect();
    try {
      await dropper.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    } finally {
      await dropper.end();
    }
  });
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return { kind: 'postgres', url: url.toString(), poolSize: 5 };
}

export async function openTestDatabase(t: Test, config: Config = testConfig()): Promise<DatabaseHandle> {
  const database = await connectDatabase(await freshDatabaseConfig(t));
  await migrateToLatest(database.db);
  await ensureEmbeddingSpace(database.db, config.embedding);
  return database;
}

/** The cache the suite runs with: Redis under a key prefix of this test's own, or in memory. */
export async function openTestCache(): Promise<Cache> {
  if (!redisUrl) return createMemoryCache();
  return openRedisCache({
    url: redisUrl,
    keyPrefix: uniqueTestName('redis'),
    logger: pino({ level: 'silent' }),
  });
}

export interface TestApp {
  app: FastifyInstance;
  /** app.inject with the admin key, unless the request sets its own authorization header. */
  inject: (options: InjectOptions) => Promise<LightMyRequestResponse>;
  database: DatabaseHandle;
  cache: Cache;
  config: Config;
}

/** The whole API on a fresh database and cache, closed at the end of the test. */
export async function buildTestApp(
  t: Test,
  options: { logger?: pino.Logger; env?: Record<string, string>; chat?: AppDependencies['chat'] } = {},
): Promise<TestApp> {
  // In served mode the app gets Redis too (rate limits), under a key prefix of this test's own.
  const config = testConfig({
    ...(redisUrl && {
      REDIS_URL: redisUrl,
      MARQUEE_REDIS_PREFIX: uniqueTestName('redis'),
    }),
    ...options.env,
  });
  const database = await openTestDatabase(t, config);
  const cache = await openTestCache();
  const app = await buildApp({
    config,
    database,
    cache,
    ...(options.logger && { logger: options.logger }),
    ...(options.chat && { chat: options.chat }),
  });
  t.teardown(async () => {
    await cache.deleteByPrefix('');
    await app.close();
  });
  await app.ready();
  return { app, inject: (options) => app.inject(asAdmin(options)), database, cache, config };
}

export const json = (body: unknown) => ({
  headers: { 'content-type': 'application/json' },
  payload: JSON.stringify(body),
});
