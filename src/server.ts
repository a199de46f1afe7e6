import type { FastifyInstance } from 'fastify';
import { type DestinationStream, type Logger, pino } from 'pino';
import { buildApp } from './app.ts';
import type { Cache } from './cache/cache.ts';
import { createMemoryCache } from './cache/memory-cache.ts';
import { openRedisCache } from './cache/redis-cache.ts';
import type { Config } from './config.ts';
import { connectDatabase, type DatabaseHandle } from './db/connect.ts';
import { ensureEmbeddingSpace } from './db/embedding-space.ts';
import { migrateToLatest } from './db/migrate.ts';
import { createBootstrapAdminKey } from './services/api-keys.service.ts';

/**
 * Pino JSON logs; request lines carry `requestId`. Request lines hold the method, URL and addresses only
 * (never bodies, so never user attributes); credentials are redacted wherever a header object is logged.
 */
export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * Opens the database, brings its schema up to date and checks it was made for the configured embedder
 * (unless `checkEmbeddingSpace` is false: `marquee reembed`, which moves it to that embedder).
 */
export async function openDatabase(
  config: Config,
  logger: Logger,
  { checkEmbeddingSpace = true } = {},
): Promise<DatabaseHandle> {
  const database = await connectDatabase(config.database);
  try {
    const applied = await migrateToLatest(database.db);
    if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
    if (checkEmbeddingSpace) await ensureEmbeddingSpace(database.db, config.embedding);
    return database;
  } catch (error) {
    await database.close();
    throw error;
  }
}

export async function openCache(config: Config, logger: Logger): Promise<Cache> {
  return config.redis
    ? openRedisCache({ url: config.redis.url, keyPrefix: config.redis.keyPrefix, logger })
    : createMemoryCache();
}

/**
 * Starts the API: database, cache, app, listen. The caller owns shutdown (app.close()). `bootstrapKey` is
 * the admin key created on a first start without any key, for the caller to show once.
 */
export async function startServer(
  config: Config,
  logger = createLogger(config),
): Promise<{ app: FastifyInstance; bootstrapKey: string | undefined }> {
  const database = await openDatabase(config, logger);
  const bootstrapKey = await createBootstrapAdminKey(database.db, config.adminKey !== undefined).catch(
    async (error: unknown) => {
      await database.close();
      throw error;
    },
  );
  const cache = await openCache(config, logger);
  const app = await buildApp({ config, database, cache, logger });
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await app.close();
    throw error;
  }
  logger.info(
    {
      database: database.mode,
      cache: cache.kind,
      docs: `http://${displayHost(config.host)}:${config.port}/docs`,
    },
    'marquee is serving',
  );
  return { app, bootstrapKey };
}

function displayHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
}
