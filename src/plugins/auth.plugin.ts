import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { grantedScopes, type Principal, type RouteAccess } from '../auth/access.ts';
import { ForbiddenError, UnauthorizedError } from '../errors.ts';
import { problemSchema } from '../schemas/problem.schema.ts';
import { ApiKeyVerifier, secretsEqual } from '../services/api-keys.service.ts';
import { loadUserTokenSecret, verifyUserToken } from '../services/user-tokens.service.ts';

declare module 'fastify' {
  interface FastifyInstance {
    apiKeys: ApiKeyVerifier;
    /** The secret user tokens are signed with (loaded from the database on first use). */
    userTokenSecret: () => Promise<Uint8Array>;
  }
}

// Routes that plugins register for the documentation: public by nature, no declaration needed.
const DOCUMENTATION_ROUTE = /^\/(docs(\/|$)|openapi\.json$)/;
const BEARER = /^Bearer\s+(\S+)\s*$/i;
const USER_TOKEN_LIMITS =
  "A user token may only read that user's recommendations and post that user's events; use an API key for anything else.";

/**
 * Authentication (API keys, the bootstrap admin key, per-user tokens) and authorization (each route's
 * declared access), before the body is even read. A route that declares no access fails at start-up.
 */
export const authPlugin = fp(
  async (app: FastifyInstance, options: { adminKey: string | undefined }) => {
    app.decorate('apiKeys', new ApiKeyVerifier(app.db));
    let secret: Promise<Uint8Array> | undefined;
    app.decorate('userTokenSecret', () => {
      secret ??= loadUserTokenSecret(app.db).catch((error: unknown) => {
        secret = undefined;
        throw error;
      });
      return secret;
    });
    app.decorateRequest('principal', undefined);

    app.addHook('onRoute', (route) => {
      // Documentation pages, and CORS preflights (which by design carry no credentials), are public.
      if (DOCUMENTATION_ROUTE.test(route.url) || route.method === 'OPTIONS') {
        route.config = { ...route.config, access: { public: true } };
      }
      const access = route.config?.access;
      if (!access) {
        throw new Error(`Route ${String(route.method)} ${route.url} declares no access: set config.access`);
      }
      if (route.schema) describeAccess(route.schema as Record<string, unknown>, access);
    });

    app.addHook('onRequest', async (request) => {
      const access = request.routeOptions.config.access;
      if (!access || access.public) return;
      request.principal = await authenticate(app, request, options.adminKey);
      authorize(request, access, request.principal);
    });

    // A body's userId is checked once the body is parsed, and before it is validated: a token for another
    // user learns nothing about what else the request got wrong.
    app.addHook('preValidation', async (request) => {
      const access = request.routeOptions.config.access;
      const principal = request.principal;
      if (
        principal?.kind !== 'user-token' ||
        !access ||
        access.public ||
        access.userToken !== 'own-user-body'
      )
        return;
      const userId = (request.body as { userId?: unknown } | null | undefined)?.userId;
      if (userId !== principal.userId) {
        throw new ForbiddenError('body.userId: a user token may only act for its own user, and must name it');
      }
    });

    // The events of a user token's request can only be checked once the body is parsed.
    app.addHook('preHandler', async (request) => {
      const access = request.routeOptions.config.access;
      const principal = request.principal;
      if (principal?.kind !== 'user-token' || !access || access.public || access.userToken !== 'own-events')
        return;
      const events = (request.body as { events?: unknown[] } | undefined)?.events ?? [];
      const foreign = events.findIndex(
        (event) =>
          typeof event !== 'object' ||
          event === null ||
          (event as { userId?: unknown }).userId !== principal.userId,
      );
      if (foreign !== -1) {
        throw new ForbiddenError(
          `body.events[${foreign}]: a user token may only post events of its own user`,
        );
      }
    });
  },
  { name: 'auth', dependencies: ['database'] },
);

async function authenticate(
  app: FastifyInstance,
  request: FastifyRequest,
  adminKey: string | undefined,
): Promise<Principal> {
  const header = request.headers.authorization;
  if (!header) throw new UnauthorizedError('Send an API key or a user token: Authorization: Bearer <token>.');
  const token = BEARER.exec(header)?.[1];
  if (!token) throw new UnauthorizedError('The Authorization header must be "Bearer <token>".');
  if (adminKey !== undefined && secretsEqual(token, adminKey)) {
    return { kind: 'api-key', keyId: 'MARQUEE_ADMIN_KEY', scopes: ['admin'] };
  }
  if (token.startsWith('mq_')) {
    const key = await app.apiKeys.verify(token);
    if (!key) throw new UnauthorizedError('Unknown or revoked API key.');
    return { kind: 'api-key', ...key };
  }
  const userId = await verifyUserToken(await app.userTokenSecret(), token);
  if (!userId) throw new UnauthorizedError('The token is not valid or has expired.');
  return { kind: 'user-token', userId };
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
    if ((request.params as { userId?: string }).userId !== principal.userId) {
      throw new ForbiddenError(`This user token belongs to another user. ${USER_TOKEN_LIMITS}`);
    }
  } else if (access.userToken !== 'own-events' && access.userToken !== 'own-user-body') {
    throw new ForbiddenError(USER_TOKEN_LIMITS);
  }
}

/** Shows the route's access in its OpenAPI operation: security requirements and a sentence. */
function describeAccess(schema: Record<string, unknown>, access: RouteAccess) {
  if (access.public) {
    schema.security = [];
    return;
  }
  schema.security = access.userToken ? [{ apiKey: [] }, { userToken: [] }] : [{ apiKey: [] }];
  // Machine-readable for client generators and the route-walking test: the scopes that grant access.
  schema['x-marquee-scopes'] = [...access.scopes];
  schema.response = { ...(schema.response as object | undefined), 401: problemSchema, 403: problemSchema };
  const who = `an API key with scope ${access.scopes.map((scope) => `\`${scope}\``).join(' or ')}`;
  const tokenRule =
    access.userToken === 'own-user-param'
      ? ', or a user token of that user'
      : access.userToken === 'own-events'
        ? ', or a user token (only for events of its own user)'
        : access.userToken === 'own-user-body'
          ? ', or a user token of the user named in `userId`'
          : '';
  const sentence = `Access: ${who}${tokenRule}.`;
  // A GET route's schema object is shared with its automatic HEAD route: describe it once.
  if (typeof schema.description === 'string' && schema.description.endsWith(sentence)) return;
  schema.description =
    typeof schema.description === 'string' ? `${schema.description}\n\n${sentence}` : sentence;
}
