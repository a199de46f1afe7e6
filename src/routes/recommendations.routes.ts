import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { requireScope } from '../auth/access.ts';
import { itemIdParamsSchema, userIdParamsSchema } from '../schemas/common.schema.ts';
import { problemResponses } from '../schemas/problem.schema.ts';
import {
  filtersFromBody,
  filtersFromQuery,
  recommendationPageSchema,
  recommendationQuerySchema,
  sessionRecommendationBodySchema,
  similarItemsQuerySchema,
} from '../schemas/recommendations.schema.ts';
import {
  recommendForSession,
  recommendForUser,
  recommendSimilar,
} from '../services/recommendations.service.ts';
import { answerPage } from './explanation-reply.ts';

export const recommendationRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/users/:userId/recommendations',
    {
      config: { access: requireScope('client', { userToken: 'own-user-param' }) },
      schema: {
        operationId: 'recommendForUser',
        summary: 'Personalised recommendations for a user',
        description:
          'A page of items for this user: candidates from their profile (collaborative neighbours of what they ' +
          'watched, nearest items to each of their interests, fresh releases), trending and editorial picks, ' +
          "blended with the variant's weights, then filtered, freed of what they already consumed, " +
          'diversified (MMR) and capped per series and genre. An unknown or new user gets a diversified ' +
          'trending page, never a 404. Each item says where it came from in `reasons`. Send the ' +
          '`recommendationId` back on the events the page leads to. Answers carry `x-cache: hit|miss`; a ' +
          "user's cached pages are dropped as soon as they post an event. With `explain=true` each item " +
          'also carries an `explanation` sentence in the language of `locale` or Accept-Language.',
        tags: ['recommendations'],
        params: userIdParamsSchema,
        querystring: recommendationQuerySchema,
        response: { 200: recommendationPageSchema, ...problemResponses(400) },
      },
    },
    async (request, reply) => {
      const { query } = request;
      const answer = await recommendForUser(app.recommender, {
        userId: request.params.userId,
        limit: query.limit,
        cursor: query.cursor,
        diversity: query.diversity,
        variant: query.variant,
        exclude: query.exclude,
        filters: filtersFromQuery(query),
      });
      return answerPage(app, request, reply, answer, query, 'personal', request.params.userId);
    },
  );

  app.post(
    '/recommendations',
    {
      config: { access: requireScope('client', { userToken: 'own-user-body' }) },
      schema: {
        operationId: 'recommendForSession',
        summary: 'Recommendations for a session',
        description:
          'For anonymous visitors (and known users in the middle of a session): items that go with what was ' +
          'just viewed (`recentItemIds`, most recent first), by collaborative neighbours and content ' +
          "similarity, blended with the user's profile when `userId` is given, then trending items. The " +
          'viewed items themselves are never returned. `explain: true` adds an `explanation` to each item.',
        tags: ['recommendations'],
        body: sessionRecommendationBodySchema,
        response: { 200: recommendationPageSchema, ...problemResponses(400, 413, 415) },
      },
    },
    async (request, reply) => {
      const { body } = request;
      const answer = await recommendForSession(app.recommender, {
        recentItemIds: body.recentItemIds,
        userId: body.userId,
        limit: body.limit,
        cursor: body.cursor,
        diversity: body.diversity,
        exclude: body.exclude,
        filters: filtersFromBody(body.filters),
      });
      return answerPage(app, request, reply, answer, body, 'personal', body.userId);
    },
  );

  app.get(
    '/items/:itemId/similar',
    {
      config: { access: requireScope('read', { userToken: 'catalog' }) },
      schema: {
        operationId: 'similarItems',
        summary: 'Items similar to an item ("more like this")',
        description:
          'Nearest items by content (plot, genres, credits: the embedding) blended with the items people ' +
          'watched together with it (collaborative neighbours), filtered. 404 when the item does not exist. ' +
          'With `explain=true` each item carries an `explanation` naming the item it is similar to.',
        tags: ['recommendations'],
        params: itemIdParamsSchema,
        querystring: similarItemsQuerySchema,
        response: { 200: recommendationPageSchema, ...problemResponses(400, 404) },
      },
    },
    async (request, reply) => {
      const { query } = request;
      const answer = await recommendSimilar(app.recommender, request.params.itemId, {
        limit: query.limit,
        diversity: query.diversity,
        filters: filtersFromQuery(query),
      });
      return answerPage(app, request, reply, answer, query, 'similar', undefined);
    },
  );
};
