import { LRUCache } from 'lru-cache';
import type { Cache } from '../cache/cache.ts';

const WINDOW_SECONDS = 60;
// Addresses this process remembers as over their limit; an attacker rotating more addresses than this only
// costs each of them one lookup more.
const BLOCKED_ADDRESSES = 10_000;

/**
 * Failed authentications per client address, counted in fixed one-minute windows in the shared cache (Redis
 * in served mode, so that a guesser spreading over replicas is counted once). An address over the limit is
 * remembered by this process until its window ends and refused before any key lookup; only failures cost a
 * round trip to the counter, so a request with good credentials pays nothing for this.
 */
export class AuthFailureLimiter {
  readonly #cache: Cache;
  readonly #limit: number;
  readonly #blockedUntil = new LRUCache<string, number>({ max: BLOCKED_ADDRESSES });

  constructor(cache: Cache, limitPerMinute: number) {
    this.#cache = cache;
    this.#limit = limitPerMinute;
  }

  /** Seconds until the address may try again, or 0 when it may try now. */
  retryAfterSeconds(address: string, now = Date.now()): number {
    const until = this.#blockedUntil.get(address);
    if (until === undefined) return 0;
    if (until <= now) {
      this.#blockedUntil.delete(address);
      return 0;
    }
    return Math.ceil((until - now) / 1000);
  }

  /** Counts one failure; returns the seconds until the address may try again when it is now over the limit. */
  async recordFailure(address: string, now = Date.now()): Promise<number> {
    const window = Math.floor(now / (WINDOW_SECONDS * 1000));
    const failures = await this.#cache.increment(`auth-failures:${window}:${address}`, 1, WINDOW_SECONDS);
    if (failures === undefined || failures < this.#limit) return 0;
    const until = (window + 1) * WINDOW_SECONDS * 1000;
    this.#blockedUntil.set(address, until);
    return Math.ceil((until - now) / 1000);
  }
}
