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

// A scope grants itself and what it implies: admin everything, ingest and client also the public reads. A Map:
// an access decision never reads a property an object could inherit.
const IMPLIED: ReadonlyMap<Scope, readonly Scope[]> = new Map<Scope, readonly Scope[]>([
  ['admin', SCOPES],
  ['ingest', ['ingest', 'read']],
  ['client', ['client', 'read']],
  ['read', ['read']],
]);

/**
 * What a user token (minted for one userId, used by browsers and apps) may do on a route:
 * `catalog`: the route reads nothing about any user (catalog reads, similar items, trending): any token;
 * `own-user-param`: the route's `userId` path parameter must be the token's user;
 * `own-events`: every event in the body must be the token's user's;
 * `own-user-body`: the body's `userId` must be the token's user (a token must send it).
 */
export type UserTokenRule = 'catalog' | 'own-user-param' | 'own-events' | 'own-user-body';

export type RouteAccess =
  | { readonly public: true }
  | { readonly public?: false; readonly scopes: readonly Scope[]; readonly userToken?: UserTokenRule };

// The access objects this module made. The auth plugin trusts no other: an access rule cannot be forged or
// inherited (a polluted Object.prototype gains nothing here), and each is frozen on a null prototype.
const issued = new WeakSet<object>();

function issue(access: RouteAccess): RouteAccess {
  const frozen = Object.freeze(Object.assign(Object.create(null) as object, access)) as RouteAccess;
  if ('scopes' in frozen) Object.freeze(frozen.scopes);
  issued.add(frozen);
  return frozen;
}

export const publicAccess: RouteAccess = issue({ public: true });

/** Callers holding any of these scopes (or an admin key) may use the route. */
export function requireScope(
  scopes: Scope | readonly Scope[],
  options: { userToken?: UserTokenRule } = {},
): RouteAccess {
  return issue({
    scopes: typeof scopes === 'string' ? [scopes] : [...scopes],
    ...(options.userToken !== undefined && { userToken: options.userToken }),
  });
}

/**
 * The access a route declared in its config: its own `access` property, and only when this module made it;
 * undefined otherwise (the caller then refuses the request).
 */
export function declaredAccess(config: unknown): RouteAccess | undefined {
  if (config === null || typeof config !== 'object' || !Object.hasOwn(config, 'access')) return undefined;
  const access = (config as { access?: unknown }).access;
  return typeof access === 'object' && access !== null && issued.has(access)
    ? (access as RouteAccess)
    : undefined;
}

export type Principal =
  | { readonly kind: 'api-key'; readonly keyId: string; readonly scopes: readonly Scope[] }
  | { readonly kind: 'user-token'; readonly userId: string };

export function grantedScopes(scopes: readonly Scope[]): Set<Scope> {
  return new Set(scopes.flatMap((scope) => IMPLIED.get(scope) ?? []));
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
