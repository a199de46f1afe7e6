import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { requireScope } from '../auth/access.ts';
import { problemResponses } from '../schemas/problem.schema.ts';
import { recommendationStatsQuerySchema, recommendationStatsSchema } from '../schemas/stats.schema.ts';
import { recommendationStats } from '../services/recommendation-stats.service.ts';

export const statsRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/stats/recommendations',
    {
      config: { access: requireScope('admin') },
      schema: {
        operationId: 'getRecommendationStats',
        summary: 'How recommendations perform',
        description:
          'For the items shown on recommendation pages served in [from, to): how many were clicked (a ' +
          '`click` or `play` event) and completed (`complete`), counting the events that carry the ' +
          "page's `recommendationId`, whenever they arrived. Overall, per candidate source and per A/B " +
          'test variant (and source within it), with rates and the mean position of what was clicked.',
        tags: ['stats'],
        querystring: recommendationStatsQuerySchema,
        response: { 200: recommendationStatsSchema, ...problemResponses(400) },
      },
    },
    async (request) => recommendationStats(app.db, request.query),
  );
};
