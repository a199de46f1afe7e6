import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import { type Scope, isScope } from '../auth/access.ts';
import type { ApiKeyRow, Database } from '../db/database.ts';
import { NotFoundError } from '../errors.ts';
import {
  countApiKeys,
  findApiKeyById,
  insertApiKey,
  listApiKeys,
  revokeApiKey,
  touchApiKey,
} from '../repositories/api-keys.repository.ts';
import { setMetaValueOnce } from '../repositories/meta.repository.ts';

// mq_<8 hex: the visible id>_<43 base64url characters: 256 random bits>
const KEY_PATTERN = /^(mq_[0-9a-f]{8})_[A-Za-z0-9_-]{43}$/;
// A verified key is trusted for this long without asking the database again: a revocation reaches the
// other replicas within this time (at once on the replica that revoked it).
const VERIFIED_KEY_TTL_MS = 10_000;
// A refused key is refused again for this long without asking the database: a guesser's repeated tries cost
// no lookup. Safe because a key's secret is random: no key created later can be one refused before.
const REFUSED_KEY_TTL_MS = 30_000;
// last_used_at is written at most this often per key, not on every request.
const LAST_USED_WRITE_INTERVAL_MS = 60_000;

export interface ApiKeySummary {
  id: string;
  name: string;
  scopes: Scope[];
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/**
 * Whether a presented secret is the one `expectedHash` is the hash of (hashSecret, computed once), in time
 * independent of where they differ (hashing first equalises lengths).
 */
export function matchesSecretHash(presented: string, expectedHash: Buffer): boolean {
  return timingSafeEqual(hashSecret(presented), expectedHash);
}

export async function createApiKey(
  db: Kysely<Database>,
  input: { name: string; scopes: readonly Scope[] },
): Promise<{ key: string; apiKey: ApiKeySummary }> {
  const id = `mq_${randomBytes(4).toString('hex')}`;
  const key = `${id}_${randomBytes(32).toString('base64url')}`;
  const row = await insertApiKey(db, {
    id,
    name: input.name,
    scopes: [...new Set(input.scopes)],
    secretHash: hashSecret(key).toString('hex'),
  });
  return { key, apiKey: toSummary(row) };
}

export async function listApiKeySummaries(db: Kysely<Database>): Promise<ApiKeySummary[]> {
  return (await listApiKeys(db)).map(toSummary);
}

const BOOTSTRAP_MARK = 'bootstrap_admin_key';

/**
 * With no MARQUEE_ADMIN_KEY and no key at all, the first start creates an admin key so that a fresh
 * `npm start` is usable at once. Returns the secret for the caller to print once; only one of several
 * replicas starting together creates it, and never again once the database has had a key.
 */
export async function createBootstrapAdminKey(
  db: Kysely<Database>,
  adminKeyConfigured: boolean,
): Promise<string | undefined> {
  if (adminKeyConfigured || (await countApiKeys(db)) > 0) return undefined;
  const claim = randomBytes(16).toString('hex');
  if ((await setMetaValueOnce(db, BOOTSTRAP_MARK, claim)) !== claim) return undefined;
  const { key } = await createApiKey(db, { name: 'bootstrap admin', scopes: ['admin'] });
  return key;
}

function toSummary(row: ApiKeyRow): ApiKeySummary {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes.filter(isScope),
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

/** Checks presented keys against the stored hashes, remembering recent answers briefly. */
export class ApiKeyVerifier {
  readonly #db: Kysely<Database>;
  readonly #verified = new LRUCache<string, { keyId: string; scopes: Scope[] }>({
    max: 10_000,
    ttl: VERIFIED_KEY_TTL_MS,
  });
  readonly #refused = new LRUCache<string, true>({ max: 10_000, ttl: REFUSED_KEY_TTL_MS });
  readonly #lastWritten = new Map<string, number>();

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** The key's id and scopes, or undefined when it is malformed, unknown, revoked or wrong. */
  async verify(presented: string): Promise<{ keyId: string; scopes: Scope[] } | undefined> {
    const match = KEY_PATTERN.exec(presented);
    if (!match?.[1]) return undefined;
    const cacheKey = hashSecret(presented).toString('hex');
    const cached = this.#verified.get(cacheKey);
    if (cached) {
      this.#recordUse(cached.keyId);
      return cached;
    }
    if (this.#refused.has(cacheKey)) return undefined;
    const row = await findApiKeyById(this.#db, match[1]);
    const expected = row && row.revoked_at === null ? Buffer.from(row.secret_hash, 'hex') : undefined;
    const actual = hashSecret(presented);
    if (!row || !expected || expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
      this.#refused.set(cacheKey, true);
      return undefined;
    }
    const verified = { keyId: row.id, scopes: row.scopes.filter(isScope) };
    this.#verified.set(cacheKey, verified);
    this.#recordUse(row.id);
    return verified;
  }

  async revoke(id: string): Promise<void> {
    if (!(await revokeApiKey(this.#db, id))) throw new NotFoundError(`No API key "${id}"`);
    for (const [cacheKey, value] of this.#verified.entries()) {
      if (value.keyId === id) this.#verified.delete(cacheKey);
    }
  }

  #recordUse(keyId: string) {
    const now = Date.now();
    if (now - (this.#lastWritten.get(keyId) ?? 0) < LAST_USED_WRITE_INTERVAL_MS) return;
    this.#lastWritten.set(keyId, now);
    // Bookkeeping only: a failed write must not fail the request.
    touchApiKey(this.#db, keyId, new Date(now)).catch(() => {});
  }
}
