import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import { z } from 'zod';
import { requireScope } from '../auth/access.ts';
import { itemIdParamsSchema } from '../schemas/common.schema.ts';
import {
  itemInputSchema,
  itemListQuerySchema,
  itemListSchema,
  itemPatchSchema,
  itemSchema,
} from '../schemas/items.schema.ts';
import { problemResponses } from '../schemas/problem.schema.ts';
import { getItem, listItemPage, patchItem, putItem, removeItem } from '../services/items.service.ts';

export const itemRoutes: FastifyPluginAsyncZod = async (app) => {
  app.put(
    '/items/:itemId',
    {
      config: { access: requireScope('ingest') },
      schema: {
        operationId: 'putItem',
        summary: 'Create or replace an item',
        description:
          'Stores the item under the id in the path: 201 when it is new, 200 when it replaced a stored one ' +
          '(every field is replaced; fields left out are cleared). `createdAt` is kept across replacements.',
        tags: ['items'],
        params: itemIdParamsSchema,
        body: itemInputSchema,
        response: {
          200: itemSchema.describe('The item replaced an existing one.'),
          201: itemSchema.describe('The item is new.'),
          ...problemResponses(400, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const { item, created } = await putItem(
        app.db,
        app.embedding.policy,
        request.params.itemId,
        request.body,
      );
      app.embedding.schedule();
      await app.pageCache.invalidateCatalog();
      return reply.code(created ? 201 : 200).send(item);
    },
  );

  app.get(
    '/items/:itemId',
    {
      config: { access: requireScope('read', { userToken: 'catalog' }) },
      schema: {
        operationId: 'getItem',
        summary: 'Get an item',
        description: 'The stored item, or 404 when there is none with this id.',
        tags: ['items'],
        params: itemIdParamsSchema,
        response: { 200: itemSchema, ...problemResponses(400, 404) },
      },
    },
    async (request) => getItem(app.db, request.params.itemId),
  );

  app.patch(
    '/items/:itemId',
    {
      config: { access: requireScope('ingest') },
      schema: {
        operationId: 'patchItem',
        summary: 'Update some fields of an item',
        description:
          'A JSON merge patch (RFC 7396): fields present replace the stored ones, `null` clears an optional ' +
          'field, `attributes` merges key by key. The result is checked like a full replacement.',
        tags: ['items'],
        params: itemIdParamsSchema,
        body: itemPatchSchema,
        response: { 200: itemSchema, ...problemResponses(400, 404, 413, 415) },
      },
    },
    async (request) => {
      const item = await patchItem(app.db, app.embedding.policy, request.params.itemId, request.body);
      app.embedding.schedule();
      await app.pageCache.invalidateCatalog();
      return item;
    },
  );

  app.delete(
    '/items/:itemId',
    {
      config: { access: requireScope('ingest') },
      schema: {
        operationId: 'deleteItem',
        summary: 'Delete an item',
        description:
          'The item stops being served anywhere. Its events stay, as history. Idempotent: deleting an item ' +
          'that is not there also answers 204.',
        tags: ['items'],
        params: itemIdParamsSchema,
        response: { 204: z.null().describe('Deleted.'), ...problemResponses(400) },
      },
    },
    async (request, reply) => {
      await removeItem(app.db, request.params.itemId);
      await app.pageCache.invalidateCatalog();
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/items',
    {
      config: { access: requireScope('read', { userToken: 'catalog' }) },
      schema: {
        operationId: 'listItems',
        summary: 'List items',
        description:
          'Pages through the catalog in id order. Filter by type, genre or last change; follow `nextCursor` ' +
          'until it is null. Use `updatedSince` to sync only what changed.',
        tags: ['items'],
        querystring: itemListQuerySchema,
        response: { 200: itemListSchema, ...problemResponses(400) },
      },
    },
    async (request) => listItemPage(app.db, request.query),
  );
};
