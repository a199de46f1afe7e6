import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { grantedScopes, type Principal, requireScope } from '../auth/access.ts';
import { ForbiddenError } from '../errors.ts';
import { problemResponses } from '../schemas/problem.schema.ts';
import { filtersFromBody } from '../schemas/recommendations.schema.ts';
import { searchRequestSchema, searchResultsSchema } from '../schemas/search.schema.ts';
import { withRequestedExplanations } from './explanation-reply.ts';
import { searchItems } from '../services/search.service.ts';
import { cancellationSignal } from './request-cancellation.ts';

export const searchRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/search',
    {
      config: { access: requireScope('read', { userToken: 'own-user-body' }) },
      schema: {
        operationId: 'search',
        summary: 'Search the catalog',
        description:
          'Full-text matches (title words weigh most; English stemming) and items close in meaning to the ' +
          'query, fused by reciprocal rank; an item whose whole title is the query comes first. With a ' +
          '`userId` whose taste is known, matches close to that taste move up, without pushing out what the ' +
          'query asked for. Every item obeys `filters`. One page, nothing recorded: `nextCursor` is always null. ' +
          '`explain: true` adds an `explanation` to each item, in the language of `locale` or Accept-Language.',
        tags: ['search'],
        body: searchRequestSchema,
        response: { 200: searchResultsSchema, ...problemResponses(400, 413, 415) },
      },
    },
    async (request, reply) => {
      const { query, filters, limit, userId, explain, locale } = request.body;
      if (userId !== undefined) assertMayPersonalise(request.principal, userId);
      const versions = await app.pageCache.versions();
      const results = await searchItems(
        {
          db: app.db,
          space: app.embedding.policy.space,
          model: app.recommender.model,
          searchIndex: app.searchIndex,
          heldCatalog: () => app.itemCatalog.at(versions.catalog),
          catalogVersion: versions.catalog,
          embedQuery: async (text) => {
            try {
              const embedder = await app.embedding.embedder();
              const [vector] = await embedder.embed([text], { signal: cancellationSignal(request, reply) });
              return vector;
            } catch (error) {
              // The text half still answers: a search without meaning beats no search.
              request.log.warn({ err: error }, 'query embedding failed; searching on the text alone');
              return undefined;
            }
          },
        },
        { query, filters: filtersFromBody(filters), limit, userId },
      );
      return withRequestedExplanations(app, request, reply, results, { explain, locale }, 'personal', userId);
    },
  );
};

/** A user's taste is personal data: a frontend's server (client), an admin, or that user's own token. */
function assertMayPersonalise(principal: Principal | undefined, userId: string) {
  if (principal?.kind === 'user-token') {
    if (principal.userId === userId) return;
  } else if (principal) {
    const granted = grantedScopes(principal.scopes);
    if (granted.has('client') || granted.has('admin')) return;
  }
  throw new ForbiddenError(
    "body.userId: personalising for a user needs an API key with scope client or admin, or that user's token.",
  );
}
