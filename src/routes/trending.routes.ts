import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { requireScope } from '../auth/access.ts';
import { problemResponses } from '../schemas/problem.schema.ts';
import { filtersFromQuery } from '../schemas/recommendations.schema.ts';
import { trendingPageSchema, trendingQuerySchema } from '../schemas/trending.schema.ts';
import { TRENDING_CACHE_SECONDS, trendingItems } from '../services/trending.service.ts';

export const trendingRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/trending',
    {
      config: { access: requireScope('read', { userToken: 'catalog' }) },
      schema: {
        operationId: 'getTrending',
        summary: 'Trending items',
        description:
          'The items with the most recent activity over the window (each interaction fades with time), ' +
          'obeying the filters, live: an event counts as soon as `POST /v1/events` has answered. The same ' +
          'for everyone: answers are cached until events or the catalog change (and at most ' +
          `${TRENDING_CACHE_SECONDS} s), and the \`x-cache\` header says \`hit\` or \`miss\`.`,
        tags: ['recommendations'],
        querystring: trendingQuerySchema,
        response: { 200: trendingPageSchema, ...problemResponses(400) },
      },
    },
    async (request, reply) => {
      const { window, limit, ...filterQuery } = request.query;
      const filters = filtersFromQuery(filterQuery);
      const { page, cached } = await trendingItems(app.db, app.pageCache, { window, limit, filters });
      reply.header('x-cache', cached ? 'hit' : 'miss');
      return page;
    },
  );
};
