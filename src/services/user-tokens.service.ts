import { randomBytes } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { Database } from '../db/database.ts';
import { setMetaValueOnce } from '../repositories/meta.repository.ts';
import {
  findTokensRevokedThrough,
  revokeUserTokensThrough,
} from '../repositories/user-token-revocations.repository.ts';

export const USER_TOKEN_MAX_SECONDS = 24 * 60 * 60;
export const USER_TOKEN_DEFAULT_SECONDS = 60 * 60;
const ISSUER = 'marquee';
const AUDIENCE = 'marquee:user';
const SECRET_KEY = 'user_token_signing_secret';
// A user's revocation state is trusted for this long without asking the database again: an erasure reaches
// the other replicas within this time (at once on the replica that erased).
const REVOCATION_TTL_MS = 10_000;

/**
 * The HMAC secret user tokens are signed with: made once per database and kept in marquee_meta, so every
 * replica on the same database verifies the tokens any of them minted.
 */
export async function loadUserTokenSecret(db: Kysely<Database>): Promise<Uint8Array> {
  const stored = await setMetaValueOnce(db, SECRET_KEY, randomBytes(32).toString('base64url'));
  if (typeof stored !== 'string') throw new Error('the stored user token secret is not a string');
  return Buffer.from(stored, 'base64url');
}

export async function mintUserToken(
  secret: Uint8Array,
  userId: string,
  expiresInSeconds: number,
): Promise<{ token: string; expiresAt: string }> {
  const now = Math.floor(Date.now() / 1000);
  const expiresAt = now + Math.min(expiresInSeconds, USER_TOKEN_MAX_SECONDS);
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(expiresAt)
    .sign(secret);
  return { token, expiresAt: new Date(expiresAt * 1000).toISOString() };
}

/** What a presented token is: its user and when it was issued, or why it is refused. */
export type UserTokenCheck =
  | { ok: true; userId: string; issuedAtSeconds: number }
  | {
      ok: false;
      /** `invalid`: malformed, forged or for someone else (a guess); `expired`: genuine but too old. */
      reason: 'invalid' | 'expired';
    };

/** The token's user, or why it is refused; checks the signature and the times, not revocations. */
export async function verifyUserToken(secret: Uint8Array, token: string): Promise<UserTokenCheck> {
  try {
    const { payload } = await jwtVerify(token, secret, {
      algorithms: ['HS256'],
      issuer: ISSUER,
      audience: AUDIENCE,
      maxTokenAge: USER_TOKEN_MAX_SECONDS + 60,
    });
    return typeof payload.sub === 'string' && typeof payload.iat === 'number'
      ? { ok: true, userId: payload.sub, issuedAtSeconds: payload.iat }
      : { ok: false, reason: 'invalid' };
  } catch (error) {
    if (error instanceof errors.JWTExpired) return { ok: false, reason: 'expired' };
    if (error instanceof errors.JOSEError || error instanceof TypeError)
      return { ok: false, reason: 'invalid' };
    throw error;
  }
}

/**
 * User tokens of one database: minted and verified with its secret, and refused once their user was erased
 * (a token issued at or before the erasure can no longer act for, or re-create, that user).
 */
export class UserTokens {
  readonly #db: Kysely<Database>;
  #secret: Promise<Uint8Array> | undefined;
  /** Per user: the last second whose tokens are revoked (0: none). */
  readonly #revokedThrough = new LRUCache<string, number>({ max: 100_000, ttl: REVOCATION_TTL_MS });

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** The signing secret, loaded from the database on first use. */
  secret(): Promise<Uint8Array> {
    this.#secret ??= loadUserTokenSecret(this.#db).catch((error: unknown) => {
      this.#secret = undefined;
      throw error;
    });
    return this.#secret;
  }

  async mint(userId: string, expiresInSeconds: number): Promise<{ token: string; expiresAt: string }> {
    return mintUserToken(await this.secret(), userId, expiresInSeconds);
  }

  /** The token's user, or why it is refused (`revoked`: its user was erased after it was issued). */
  async verify(
    token: string,
  ): Promise<{ ok: true; userId: string } | { ok: false; reason: 'invalid' | 'expired' | 'revoked' }> {
    const check = await verifyUserToken(await this.secret(), token);
    if (!check.ok) return check;
    let revokedThrough = this.#revokedThrough.get(check.userId);
    if (revokedThrough === undefined) {
      const through = await findTokensRevokedThrough(this.#db, check.userId);
      revokedThrough = through ? Math.floor(through.getTime() / 1000) : 0;
      this.#revokedThrough.set(check.userId, revokedThrough);
    }
    return check.issuedAtSeconds <= revokedThrough
      ? { ok: false, reason: 'revoked' }
      : { ok: true, userId: check.userId };
  }

  /** Revokes every token of the user issued until now (erasure). */
  async revokeAll(userId: string): Promise<void> {
    const now = new Date();
    await revokeUserTokensThrough(this.#db, userId, now);
    this.#revokedThrough.set(userId, Math.floor(now.getTime() / 1000));
  }
}
