import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { z } from 'zod';
import { requireScope } from '../auth/access.ts';
import { userIdParamsSchema } from '../schemas/common.schema.ts';
import { eventListQuerySchema, eventListSchema } from '../schemas/events.schema.ts';
import { problemResponses } from '../schemas/problem.schema.ts';
import { userExportSchema, userInputSchema, userSchema } from '../schemas/users.schema.ts';
import { eraseUser, exportUser, getUser, listUserEventPage, putUser } from '../services/users.service.ts';

export const userRoutes: FastifyPluginAsyncZod = async (app) => {
  app.put(
    '/users/:userId',
    {
      config: { access: requireScope('ingest') },
      schema: {
        operationId: 'putUser',
        summary: 'Create or replace a user',
        description:
          'Stores the user profile: 201 when new, 200 when it replaced a stored one. Users are also created ' +
          'on the fly by their first event, so this call is only needed to set attributes.',
        tags: ['users'],
        params: userIdParamsSchema,
        body: userInputSchema,
        response: {
          200: userSchema.describe('The user replaced an existing one.'),
          201: userSchema.describe('The user is new.'),
          ...problemResponses(400, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const { user, created } = await putUser(app.db, request.params.userId, request.body.attributes);
      return reply.code(created ? 201 : 200).send(user);
    },
  );

  app.get(
    '/users/:userId',
    {
      config: { access: requireScope('ingest') },
      schema: {
        operationId: 'getUser',
        summary: 'Get a user',
        description: 'The stored profile, or 404.',
        tags: ['users'],
        params: userIdParamsSchema,
        response: { 200: userSchema, ...problemResponses(400, 404) },
      },
    },
    async (request) => getUser(app.db, request.params.userId),
  );

  app.delete(
    '/users/:userId',
    {
      config: { access: requireScope('ingest') },
      schema: {
        operationId: 'deleteUser',
        summary: 'Erase a user',
        description:
          'Privacy erasure: deletes the profile, every event of the user and every cached result about them, ' +
          'and revokes every user token minted for them until now (a token minted afterwards works). ' +
          'Idempotent: answers 204 whether or not the user existed.',
        tags: ['users'],
        params: userIdParamsSchema,
        response: { 204: z.null().describe('Erased.'), ...problemResponses(400) },
      },
    },
    async (request, reply) => {
      await eraseUser(app, request.params.userId);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/users/:userId/events',
    {
      config: { access: requireScope(['client', 'ingest'], { userToken: 'own-user-param' }) },
      schema: {
        operationId: 'listUserEvents',
        summary: "List a user's events",
        description: "The user's events, newest first (by event time). 404 when the user does not exist.",
        tags: ['users', 'events'],
        params: userIdParamsSchema,
        querystring: eventListQuerySchema,
        response: { 200: eventListSchema, ...problemResponses(400, 404) },
      },
    },
    async (request) =>
      listUserEventPage(app.db, request.params.userId, request.query.limit, request.query.cursor),
  );

  app.get(
    '/users/:userId/export',
    {
      config: { access: requireScope('ingest') },
      schema: {
        operationId: 'exportUser',
        summary: 'Export everything stored about a user',
        description:
          'For privacy access requests: the profile and every event, oldest first. 404 when there is no such user.',
        tags: ['users'],
        params: userIdParamsSchema,
        response: { 200: userExportSchema, ...problemResponses(400, 404) },
      },
    },
    async (request) => exportUser(app.db, request.params.userId),
  );
};
