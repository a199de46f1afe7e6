import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { z } from 'zod';
import { requireScope } from '../auth/access.ts';
import {
  apiKeyCreateSchema,
  apiKeyIdParamsSchema,
  apiKeyListSchema,
  createdApiKeySchema,
  modelStatusSchema,
  trainingSummarySchema,
  userTokenRequestSchema,
  userTokenSchema,
} from '../schemas/admin.schema.ts';
import { problemResponses } from '../schemas/problem.schema.ts';
import { createApiKey, listApiKeySummaries } from '../services/api-keys.service.ts';
import { ConflictError } from '../errors.ts';

// A training reads every event: minutes on a large history, far past the default request timeout.
const TRAINING_HANDLER_TIMEOUT_MS = 60 * 60 * 1000;

export const adminRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/admin/keys',
    {
      config: { access: requireScope('admin') },
      schema: {
        operationId: 'createApiKey',
        summary: 'Create an API key',
        description:
          'Creates a key with the given scopes. The secret is in this answer only; only its hash is stored.',
        tags: ['admin'],
        body: apiKeyCreateSchema,
        response: { 201: createdApiKeySchema, ...problemResponses(400, 413, 415) },
      },
    },
    async (request, reply) => reply.code(201).send(await createApiKey(app.db, request.body)),
  );

  app.get(
    '/admin/keys',
    {
      config: { access: requireScope('admin') },
      schema: {
        operationId: 'listApiKeys',
        summary: 'List API keys',
        description:
          'Every key with its name, scopes and times, revoked ones included. Secrets are never shown.',
        tags: ['admin'],
        response: { 200: apiKeyListSchema, ...problemResponses() },
      },
    },
    async () => ({ keys: await listApiKeySummaries(app.db) }),
  );

  app.delete(
    '/admin/keys/:keyId',
    {
      config: { access: requireScope('admin') },
      schema: {
        operationId: 'revokeApiKey',
        summary: 'Revoke an API key',
        description:
          'The key stops working at once on this replica and within 10 seconds on the others. 404 for an unknown key.',
        tags: ['admin'],
        params: apiKeyIdParamsSchema,
        response: { 204: z.null().describe('Revoked.'), ...problemResponses(400, 404) },
      },
    },
    async (request, reply) => {
      await app.apiKeys.revoke(request.params.keyId);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/admin/user-tokens',
    {
      config: { access: requireScope(['admin', 'client']) },
      schema: {
        operationId: 'createUserToken',
        summary: 'Mint a user token',
        description:
          "A short-lived signed token (at most 24 h) bound to one user, for a browser or app to call Marquee directly: it may only read that user's recommendations and post that user's events.",
        tags: ['admin'],
        body: userTokenRequestSchema,
        response: { 201: userTokenSchema, ...problemResponses(400, 413, 415) },
      },
    },
    async (request, reply) => {
      const { userId, expiresInSeconds } = request.body;
      const minted = await app.userTokens.mint(userId, expiresInSeconds);
      return reply.code(201).send({ ...minted, userId });
    },
  );

  app.post(
    '/admin/models/train',
    {
      handlerTimeout: TRAINING_HANDLER_TIMEOUT_MS,
      config: { access: requireScope('admin') },
      schema: {
        operationId: 'trainModels',
        summary: 'Train the recommendation models now',
        description:
          'Trains the collaborative model (similar items, collaborative candidates) from all events, replaces ' +
          'the stored one in one transaction, and answers when done. Trainings also start by themselves (see ' +
          'GET /v1/admin/models); popularity and trending need none, they follow every event. A request made ' +
          'during a training waits for it and then trains once more, for everyone who asked meanwhile. 409 ' +
          'when another process is training at that moment.',
        tags: ['admin'],
        response: { 200: trainingSummarySchema, ...problemResponses(409) },
      },
    },
    async () => {
      const outcome = await app.modelTraining.trainNow();
      if (outcome.skipped) throw new ConflictError(`${outcome.reason}; try again when it is done`);
      return outcome;
    },
  );

  app.get(
    '/admin/models',
    {
      config: { access: requireScope('admin') },
      schema: {
        operationId: 'getModelStatus',
        summary: 'The state of the recommendation models',
        description:
          'The collaborative model in service, what it covers, the events stored since, the training under way, ' +
          'why and when the next one starts, and the last error. Trainings start by themselves: the first once ' +
          'there are events (after writes pause for MARQUEE_MODEL_TRAIN_DEBOUNCE_SECONDS, at most ' +
          'MARQUEE_MODEL_TRAIN_MAX_WAIT_SECONDS after the first), then when the events since the last reach ' +
          'MARQUEE_MODEL_RETRAIN_SHARE of all, once writes stop after a training that started during them, and ' +
          'every MARQUEE_MODEL_REFRESH_MINUTES while events arrive. `inMemory` says what the answering process ' +
          'holds in memory (neighbour lists, item vectors and their nearest-neighbour index, the learned ranker); ' +
          '`ranker` which learned ranker serves and why the latest one does or does not.',
        tags: ['admin'],
        response: { 200: modelStatusSchema, ...problemResponses() },
      },
    },
    async () => ({
      ...(await app.modelTraining.status()),
      ranker: await app.modelTraining.rankers(),
      inMemory: {
        ...(app.recommender.model?.status() ?? notHeld('no in-memory model in this process')),
        searchIndex: app.searchIndex.status(),
        itemCatalog: app.itemCatalog.status(),
      },
    }),
  );
};

function notHeld(reason: string) {
  const part = { held: false, items: 0, bytes: 0, loadedAt: null, lastLoadMs: null, reason };
  return { neighbourLists: part, itemVectors: part, vectorIndex: part, ranker: part };
}
