import { randomBytes } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import { setMetaValueOnce } from '../repositories/meta.repository.ts';

export const USER_TOKEN_MAX_SECONDS = 24 * 60 * 60;
export const USER_TOKEN_DEFAULT_SECONDS = 60 * 60;
const ISSUER = 'marquee';
const AUDIENCE = 'marquee:user';
const SECRET_KEY = 'user_token_signing_secret';

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

/** The token's user, or undefined when the token is malformed, forged or expired. */
export async function verifyUserToken(secret: Uint8Array, token: string): Promise<string | undefined> {
  try {
    const { payload } = await jwtVerify(token, secret, {
      algorithms: ['HS256'],
      issuer: ISSUER,
      audience: AUDIENCE,
      maxTokenAge: USER_TOKEN_MAX_SECONDS + 60,
    });
    return typeof payload.sub === 'string' ? payload.sub : undefined;
  } catch (error) {
    if (error instanceof errors.JOSEError || error instanceof TypeError) return undefined;
    throw error;
  }
}
