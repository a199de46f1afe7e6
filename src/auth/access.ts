// Who may call what. Every route declares its access in `config.access`, next to its schema; the auth plugin
// refuses to register a route without one and enforces it on every request.

export const SCOPES = ['admin', 'ingest', 'client', 'read'] as const;
export type Scope = (typeof SCOPES)[number];

export const SCOPE_DESCRIPTIONS: Record<Scope, string> = {
  admin: 'everything, including key management',
  ingest: 'write items, users and events; erase and export users; read the catalog',
  client: "a frontend's server side: recommendations, search, events for any user; read the catalog",
  read: 'public catalog reads',
};

// A scope grants itself and what it implies: admin everything, ingest and client also the public reads.
const IMPLIED: Record<Scope, readonly Scope[]> = {
  admin: SCOPES,
  ingest: ['ingest', 'read'],
  client: ['client', 'read'],
  read: ['read'],
};

/**
 * What a user token (minted for one userId, used by browsers and apps) may do on a route:
 * `own-user-param`: the route's `userId` path parameter must be the token's user;
 * `own-events`: every event in the body must be the token's user's;
 * `own-user-body`: the body's `userId` must be the token's user (a token must send it).
 */
export type UserTokenRule = 'own-user-param' | 'own-events' | 'own-user-body';

export type RouteAccess =
  | { readonly public: true }
  | { readonly public?: false; readonly scopes: readonly Scope[]; readonly userToken?: UserTokenRule };

export const publicAccess: RouteAccess = { public: true };

/** Callers holding any of these scopes (or an admin key) may use the route. */
export function requireScope(
  scopes: Scope | readonly Scope[],
  options: { userToken?: UserTokenRule } = {},
): RouteAccess {
  return { scopes: typeof scopes === 'string' ? [scopes] : scopes, ...options };
}

export type Principal =
  | { readonly kind: 'api-key'; readonly keyId: string; readonly scopes: readonly Scope[] }
  | { readonly kind: 'user-token'; readonly userId: string };

export function grantedScopes(scopes: readonly Scope[]): Set<Scope> {
  return new Set(scopes.flatMap((scope) => IMPLIED[scope]));
}

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** Who made the request; undefined on public routes. */
    principal: Principal | undefined;
  }
}
