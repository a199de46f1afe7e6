import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { requireScope } from '../auth/access.ts';
import { positiveEventTypes } from '../event-types.ts';
import { feedbackInputSchema, feedbackResultSchema } from '../schemas/feedback.schema.ts';
import { problemResponses } from '../schemas/problem.schema.ts';
import { recordFeedback } from '../services/feedback.service.ts';
import type { ProfileSettings } from '../services/profiles.service.ts';
import { afterEventsCommitted } from './events-committed.ts';

export const feedbackRoutes: FastifyPluginAsyncZod<{ profiles: ProfileSettings }> = async (app, options) => {
  const { recommender } = options.profiles;
  app.post(
    '/feedback',
    {
      config: { access: requireScope(['client', 'ingest'], { userToken: 'own-user-body' }) },
      schema: {
        operationId: 'postFeedback',
        summary: 'Thumbs up or down, or not interested',
        description:
          'Feedback on a recommended item, or on the explanation given for it. On an item it is also recorded ' +
          "as an event (`up`: like, `down`: dislike, `not_interested`: skip): the item leaves the user's " +
          "pages at once, their profile moves, and the next training learns from it. With the page's " +
          '`recommendationId`, `GET /v1/stats/recommendations` counts it for the sources and variant of that ' +
          'page.',
        tags: ['events'],
        body: feedbackInputSchema,
        response: { 201: feedbackResultSchema, ...problemResponses(400, 413, 415) },
      },
    },
    async (request, reply) => {
      const result = await recordFeedback(app.db, request.body, {
        positiveTypes: positiveEventTypes(recommender.eventWeights),
        consumedTypes: recommender.consumedEventTypes,
        afterCommit: afterEventsCommitted(app, options.profiles, request.log),
      });
      return reply.code(201).send(result);
    },
  );
};
