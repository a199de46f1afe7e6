import { Redis } from 'ioredis';
import pg from 'pg';

/**
 * The Postgres databases and Redis keys a served-mode benchmark creates, named after the run so that it
 * can remove exactly what it made (and nothing of anyone else's on a shared server).
 */

/** The URL of database `name` on the server of `adminUrl`. */
export const databaseUrlFor = (adminUrl: string, name: string) =>
  Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();

/** Runs one statement on its own connection (CREATE DATABASE cannot run in a pool's transaction). */
export async function adminQuery(adminUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Deletes every key under `prefix`; returns how many. */
export async function flushRedisPrefix(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true });
  await redis.connect();
  let removed = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) removed += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return removed;
}
