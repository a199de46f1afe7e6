/**
 * A best-effort key-value cache. Implementations never throw from get/set/delete: a cache that is down
 * behaves like an empty one, so a request never fails because of it.
 */
export interface Cache {
  readonly kind: 'memory' | 'redis';
  get<T>(key: string): Promise<T | undefined>;
  /** Several values in one round trip, in the order of the keys. */
  getMany<T>(keys: readonly string[]): Promise<(T | undefined)[]>;
  /**
   * The value's JSON text as stored, unparsed: a cached answer can be sent as it is (from Redis its UTF-8
   * bytes, never decoded to a string only to be encoded again).
   */
  getRaw(key: string): Promise<string | Buffer | undefined>;
  /** Stores JSON text as it is (`getRaw` and `get` read it back). */
  setRaw(key: string, json: string, ttlSeconds: number): Promise<void>;
  set(key: string, value: unknown, ttlSeconds: number): Promise<void>;
  delete(...keys: string[]): Promise<void>;
  /**
   * Adds `amount` to the counter at `key` (created at 0, expiring `ttlSeconds` after its creation) and returns
   * the new total, shared by every process on the same Redis; undefined when the store cannot be reached.
   */
  increment(key: string, amount: number, ttlSeconds: number): Promise<number | undefined>;
  /** Removes every key that starts with the prefix (privacy erasure, catalog changes). */
  deleteByPrefix(prefix: string): Promise<void>;
  /** 'degraded' when the backing store cannot be reached right now. */
  health(): Promise<'ok' | 'degraded'>;
  close(): Promise<void>;
}
