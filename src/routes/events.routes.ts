import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { validatorCompiler } from '@fastify/type-provider-zod';
import { requireScope } from '../auth/access.ts';
import { positiveEventTypes } from '../event-types.ts';
import { ingestEvents } from '../ingest/event-ingest.ts';
import {
  eventBatchEnvelopeSchema,
  eventBatchResultSchema,
  eventBatchSchema,
} from '../schemas/events.schema.ts';
import { problemResponses } from '../schemas/problem.schema.ts';
import type { ProfileSettings } from '../services/profiles.service.ts';
import { afterEventsCommitted } from './events-committed.ts';

// 1,000 events with context fit in about 5 MB; anything larger is not a batch we want in one request.
const EVENT_BATCH_BODY_LIMIT = 5 * 1024 * 1024;

export const eventRoutes: FastifyPluginAsyncZod<{ profiles: ProfileSettings }> = async (app, options) => {
  app.post(
    '/events',
    {
      bodyLimit: EVENT_BATCH_BODY_LIMIT,
      config: { access: requireScope(['client', 'ingest'], { userToken: 'own-events' }) },
      schema: {
        operationId: 'postEvents',
        summary: 'Record events',
        description:
          'Stores 1 to 1,000 events. Each event is checked on its own: the answer counts those accepted and ' +
          'those already stored (duplicates), and lists each rejected one by its index with the reason. An ' +
          'unknown user is created; an event for an unknown item is rejected. Past timestamps are fine.',
        tags: ['events'],
        body: eventBatchSchema,
        response: { 200: eventBatchResultSchema, ...problemResponses(400, 413, 415) },
      },
      // The documented schema describes each event; the route checks only the envelope so that one bad
      // event is reported in `rejected` instead of failing the whole batch.
      validatorCompiler: (route) =>
        validatorCompiler({
          ...route,
          schema: route.httpPart === 'body' ? eventBatchEnvelopeSchema : route.schema,
        } as Parameters<typeof validatorCompiler>[0]),
    },
    // The profiles are refreshed and the users' cached pages dropped before the answer, so that the next
    // recommendation request sees the events.
    async (request) =>
      ingestEvents(app.db, request.body.events as unknown[], {
        positiveTypes: positiveEventTypes(options.profiles.recommender.eventWeights),
        afterCommit: afterEventsCommitted(app, options.profiles, request.log),
      }),
  );
};
