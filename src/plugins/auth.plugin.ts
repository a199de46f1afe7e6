import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import {
  declaredAccess,
  grantedScopes,
  type Principal,
  publicAccess,
  type RouteAccess,
  type UserTokenRule,
} from '../auth/access.ts';
import { AuthFailureLimiter } from '../auth/auth-failures.ts';
import { ForbiddenError, TooManyRequestsError, UnauthorizedError } from '../errors.ts';
import { problemSchema } from '../schemas/problem.schema.ts';
import { ApiKeyVerifier, hashSecret, matchesSecretHash } from '../services/api-keys.service.ts';
import { UserTokens } from '../services/user-tokens.service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    apiKeys: ApiKeyVerifier;
    /** User tokens: minted, verified, revoked on erasure. */
    userTokens: UserTokens;
  }
}

// Routes that plugins register for the documentation: public by nature, no declaration needed.
const DOCUMENTATION_ROUTE = /^\/(docs(\/|$)|openapi\.json$)/;
const BEARER = /^Bearer\s+(\S+)\s*$/i;
const USER_TOKEN_LIMITS =
  'A user token may read the catalog and act for its own user only (recommendations, search, chat, events); ' +
  'use an API key for anything else.';

/**
 * Authentication (API keys, the bootstrap admin key, per-user tokens) and authorization (each route's
 * declared access), before the body is even read. A route that declares no access fails at start-up.
 */
export const authPlugin = fp(
  async (
    app: FastifyInstance,
    options: {
      adminKey: string | undefined;
      /** Failed authentications a minute per client address; past it, 429 before any lookup. */
      failuresPerMinute: number;
    },
  ) => {
    app.decorate('apiKeys', new ApiKeyVerifier(app.db));
    const failures = new AuthFailureLimiter(app.cache, options.failuresPerMinute);
    app.decorate('userTokens', new UserTokens(app.db));
    app.decorateRequest('principal', undefined);

    app.addHook('onRoute', (route) => {
      // Documentation pages, and CORS preflights (which by design carry no credentials), are public.
      if (DOCUMENTATION_ROUTE.test(route.url) || route.method === 'OPTIONS') {
        route.config = { ...route.config, access: publicAccess };
      }
      const access = declaredAccess(route.config);
      if (!access) {
        throw new Error(
          `Route ${String(route.method)} ${route.url} declares no access: set config.access to requireScope(...) or publicAccess`,
        );
      }
      if (route.schema) describeAccess(route.schema as Record<string, unknown>, access);
    });

    const adminKeyHash = options.adminKey === undefined ? undefined : hashSecret(options.adminKey);
    // Fails closed: a request whose route has no access rule of ours (only the not-found answer has none)
    // is authenticated like any protected one.
    app.addHook('onRequest', async (request) => {
      const access = declaredAccess(request.routeOptions.config);
      if (access?.public === true || (access === undefined && request.is404)) return;
      request.principal = await authenticateCounted(app, request, adminKeyHash, failures);
      if (access === undefined) throw new ForbiddenError('This operation declares no access.');
      authorize(request, access, request.principal);
    });

    // A body's userId is checked once the body is parsed, and before it is validated: a token for another
    // user learns nothing about what else the request got wrong.
    app.addHook('preValidation', async (request) => {
      const access = declaredAccess(request.routeOptions.config);
      const principal = request.principal;
      if (
        principal?.kind !== 'user-token' ||
        !access ||
        access.public ||
        access.userToken !== 'own-user-body'
      )
        return;
      if (ownProperty(request.body, 'userId') !== principal.userId) {
        throw new ForbiddenError('body.userId: a user token may only act for its own user, and must name it');
      }
    });

    // The events of a user token's request can only be checked once the body is parsed.
    app.addHook('preHandler', async (request) => {
      const access = declaredAccess(request.routeOptions.config);
      const principal = request.principal;
      if (principal?.kind !== 'user-token' || !access || access.public || access.userToken !== 'own-events')
        return;
      const events = ownProperty(request.body, 'events');
      const foreign = (Array.isArray(events) ? events : []).findIndex(
        (event) => ownProperty(event, 'userId') !== principal.userId,
      );
      if (foreign !== -1) {
        throw new ForbiddenError(
          `body.events[${foreign}]: a user token may only post events of its own user`,
        );
      }
    });
  },
  { name: 'auth', dependencies: ['database', 'cache'] },
);

/** A user token that was genuine but is no longer good (expired, revoked): refused, not counted as a guess. */
class StaleUserTokenError extends UnauthorizedError {}

/**
 * authenticate(), refused before any lookup for an address that failed too often this minute; a presented
 * credential that fails counts against its address.
 */
async function authenticateCounted(
  app: FastifyInstance,
  request: FastifyRequest,
  adminKeyHash: Buffer | undefined,
  failures: AuthFailureLimiter,
): Promise<Principal> {
  const wait = request.headers.authorization === undefined ? 0 : failures.retryAfterSeconds(request.ip);
  if (wait > 0)
    throw new TooManyRequestsError(
      `Too many failed authentications from this address: retry in ${wait} s.`,
      wait,
    );
  try {
    return await authenticate(app, request, adminKeyHash);
  } catch (error) {
    // A genuine token that expired or was revoked is not a guess: browsers behind one address keep working.
    if (
      error instanceof UnauthorizedError &&
      !(error instanceof StaleUserTokenError) &&
      request.headers.authorization !== undefined
    )
      await failures.recordFailure(request.ip);
    throw error;
  }
}

async function authenticate(
  app: FastifyInstance,
  request: FastifyRequest,
  adminKeyHash: Buffer | undefined,
): Promise<Principal> {
  const header = request.headers.authorization;
  if (!header) throw new UnauthorizedError('Send an API key or a user token: Authorization: Bearer <token>.');
  const token = BEARER.exec(header)?.[1];
  if (!token) throw new UnauthorizedError('The Authorization header must be "Bearer <token>".');
  if (adminKeyHash !== undefined && matchesSecretHash(token, adminKeyHash)) {
    return { kind: 'api-key', keyId: 'MARQUEE_ADMIN_KEY', scopes: ['admin'] };
  }
  if (token.startsWith('mq_')) {
    const key = await app.apiKeys.verify(token);
    if (!key) throw new UnauthorizedError('Unknown or revoked API key.');
    return { kind: 'api-key', ...key };
  }
  const check = await app.userTokens.verify(token);
  if (check.ok) return { kind: 'user-token', userId: check.userId };
  if (check.reason === 'expired')
    throw new StaleUserTokenError('The user token has expired: mint a new one.');
  if (check.reason === 'revoked')
    throw new StaleUserTokenError("The user token was revoked when its user's data was erased.");
  throw new UnauthorizedError('The token is not valid or has expired.');
}

function authorize(
  request: FastifyRequest,
  access: Exclude<RouteAccess, { public: true }>,
  principal: Principal,
) {
  if (principal.kind === 'api-key') {
    const granted = grantedScopes(principal.scopes);
    if (!access.scopes.some((scope) => granted.has(scope))) {
      throw new ForbiddenError(
        `This API key lacks the scope this operation needs: ${access.scopes.join(' or ')}.`,
      );
    }
    return;
  }
  if (access.userToken === 'own-user-param') {
    if (ownProperty(request.params, 'userId') !== principal.userId) {
      throw new ForbiddenError(`This user token belongs to another user. ${USER_TOKEN_LIMITS}`);
    }
  } else if (access.userToken === undefined) {
    throw new ForbiddenError(USER_TOKEN_LIMITS);
  }
}

/** A property the value holds itself; never one it inherits (access decisions read only these). */
function ownProperty(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' && Object.hasOwn(value, key)
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/** How each user token rule reads in an operation's description. */
const USER_TOKEN_RULE_WORDS: Readonly<Record<UserTokenRule, string>> = {
  catalog: ', or any user token',
  'own-user-param': ', or a user token of that user',
  'own-events': ', or a user token (only for events of its own user)',
  'own-user-body': ', or a user token of the user named in `userId`',
};

/** Shows the route's access in its OpenAPI operation: security requirements and a sentence. */
function describeAccess(schema: Record<string, unknown>, access: RouteAccess) {
  if (access.public) {
    schema.security = [];
    return;
  }
  schema.security = access.userToken ? [{ apiKey: [] }, { userToken: [] }] : [{ apiKey: [] }];
  // Machine-readable for client generators and the route-walking test: the scopes that grant access.
  schema['x-marquee-scopes'] = [...access.scopes];
  if (access.userToken) schema['x-marquee-user-token'] = access.userToken;
  schema.response = { ...(schema.response as object | undefined), 401: problemSchema, 403: problemSchema };
  const who = `an API key with scope ${access.scopes.map((scope) => `\`${scope}\``).join(' or ')}`;
  const tokenRule = access.userToken ? USER_TOKEN_RULE_WORDS[access.userToken] : '';
  const sentence = `Access: ${who}${tokenRule}.`;
  // A GET route's schema object is shared with its automatic HEAD route: describe it once.
  if (typeof schema.description === 'string' && schema.description.endsWith(sentence)) return;
  schema.description =
    typeof schema.description === 'string' ? `${schema.description}\n\n${sentence}` : sentence;
}
