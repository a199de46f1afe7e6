import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { z } from 'zod';
import { publicAccess } from '../auth/access.ts';
import { NotFoundError } from '../errors.ts';
import { problemResponses } from '../schemas/problem.schema.ts';
import { explanationSchema } from '../schemas/recommendations.schema.ts';
import { explanationStreamExists, runExplanationStream } from '../services/explanations.service.ts';

const streamParamsSchema = z.strictObject({
  streamId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{22}$/, { message: 'must be the id of an explanationStream.url' })
    .describe('From `explanationStream.url` of an `explain=async` answer.'),
});

/** The events of an explanation stream, as documented (the SSE plugin writes them). */
const explanationEventSchema = z
  .object({ itemId: z.string(), explanation: explanationSchema })
  .meta({ id: 'ExplanationEvent' });

export const explanationRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/explanations/:streamId',
    {
      // EventSource cannot send credentials: the unguessable id (128 random bits, 10 minutes) is the secret.
      config: { access: publicAccess },
      sse: { kind: 'only', heartbeat: false },
      schema: {
        operationId: 'streamExplanations',
        summary: 'Stream the explanations of an explain=async answer',
        description:
          'Server-sent events: one `explanation` event per item (`{"itemId", "explanation"}`) as soon as it is ' +
          'written (cached ones first, then as the language model writes them, templates for any it misses or ' +
          'when its time is up), then one `done` event (`{"count"}`). Open it with EventSource right after ' +
          'the page arrives; it works for 10 minutes. Opening it again writes nothing new: explanations are ' +
          'cached.',
        tags: ['recommendations'],
        params: streamParamsSchema,
        response: {
          200: {
            description: 'A text/event-stream of `explanation` events, then `done`.',
            content: { 'text/event-stream': { schema: explanationEventSchema } },
          },
          ...problemResponses(400, 404),
        },
      },
    },
    async (request, reply) => {
      const { streamId } = request.params;
      if (!(await explanationStreamExists(app.cache, streamId)))
        throw new NotFoundError(`No explanation stream ${streamId}: it expired or never existed.`);
      let count = 0;
      const aborted = new AbortController();
      reply.sse.onClose(() => aborted.abort());
      await runExplanationStream(
        app.explanations,
        streamId,
        { deadline: Date.now() + app.explanations.streamBudgetMs, signal: aborted.signal },
        async (itemId, explanation) => {
          count++;
          if (reply.sse.isConnected)
            await reply.sse.send({ event: 'explanation', data: { itemId, explanation } });
        },
      );
      if (reply.sse.isConnected) await reply.sse.send({ event: 'done', data: { count } });
    },
  );
};
