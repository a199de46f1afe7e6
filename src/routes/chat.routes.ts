import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requireScope } from '../auth/access.ts';
import { resolveLocale } from '../explain/locale.ts';
import { chatAnswerSchema, chatEventSchema, chatRequestSchema } from '../schemas/chat.schema.ts';
import { problemResponses } from '../schemas/problem.schema.ts';
import { filtersFromBody } from '../schemas/recommendations.schema.ts';
import { type ChatDependencies, startChatTurn } from '../services/chat.service.ts';
import { budgetKeyOf, withRequestedExplanations } from './explanation-reply.ts';
import { cancellationSignal } from './request-cancellation.ts';

export const chatRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/chat',
    {
      config: { access: requireScope('client', { userToken: 'own-user-body' }) },
      // JSON unless the client asks for `Accept: text/event-stream`; no heartbeat: the answer is short-lived.
      sse: { kind: 'dual', heartbeat: false },
      schema: {
        operationId: 'chat',
        summary: 'Find something to watch, in plain language',
        description:
          'Conversational recommendations: the `message` ("something like Stranger Things but a movie, and ' +
          'not horror") is understood as a structured query (`appliedQuery`: titles it names, types, genres ' +
          'wanted and excluded, years, running time, audience, language, mood, and what else it says), which ' +
          'the engine runs on the catalog: named titles are found by title and stand for "more like these", ' +
          'the words go to hybrid search, and a `userId` personalises (their taste; nothing they already ' +
          "watched). Every item obeys the query and the request's `filters`; only catalog items are " +
          'returned, never the titles named, and the `reply` quotes only returned items. Offline (no language ' +
          'model configured), a rule-based parser reads English and the reply comes from templates (English ' +
          'or French, by `locale` or Accept-Language).\n\n' +
          'Send the answer\'s `sessionId` with the next message to refine ("make it shorter", "only ' +
          'movies", "more"): the session keeps its last 20 turns and expires after ' +
          '`MARQUEE_CHAT_SESSION_TTL_HOURS` (24 by default) without a message. An unknown or expired ' +
          "`sessionId`, or another user's, is a 404.\n\n" +
          'Streaming: with `Accept: text/event-stream` the answer is server-sent events: `items` first ' +
          '(`{"sessionId", "items", "appliedQuery"}`), then one `reply` event per piece of the reply as it ' +
          'is written (`{"text"}`), then `done` (`{"sessionId", "reply"}`) once the turn is stored. Errors ' +
          'before the first event are problem+json as usual.',
        tags: ['chat'],
        body: chatRequestSchema,
        response: {
          200: {
            description: 'The items, the reply and how the message was understood (JSON, or events).',
            content: {
              'application/json': { schema: chatAnswerSchema },
              'text/event-stream': { schema: chatEventSchema },
            },
          },
          ...problemResponses(400, 404, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const { body } = request;
      const locale = resolveLocale(body.locale, request.headers['accept-language']);
      const turn = await startChatTurn(chatDependencies(app, request, cancellationSignal(request, reply)), {
        sessionId: body.sessionId,
        userId: body.userId,
        message: body.message,
        filters: filtersFromBody(body.filters),
        limit: body.limit,
        locale,
      });
      const page = await withRequestedExplanations(
        app,
        request,
        reply,
        { items: turn.items },
        body,
        // Titles the viewer named are examples, not their history: say "like X", never "which you enjoyed".
        turn.appliedQuery.referenceTitles.length > 0 ? 'similar' : 'personal',
        body.userId,
      );
      // The reply is written in this language whether or not items are explained.
      reply.header('content-language', locale);
      const { explanationStream } = page;
      const head = {
        sessionId: turn.sessionId,
        items: page.items,
        appliedQuery: turn.appliedQuery,
        ...(explanationStream && { explanationStream }),
      };

      if (!reply.sse) {
        let text = '';
        for await (const piece of turn.reply) text += piece;
        return { ...head, reply: text };
      }
      // Events bypass the onSend hooks that set this header on other answers.
      reply.header('x-request-id', request.id);
      const sse = reply.sse;
      await sse.send({ event: 'items', data: head });
      let text = '';
      try {
        for await (const piece of turn.reply) {
          text += piece;
          if (sse.isConnected) await sse.send({ event: 'reply', data: { text: piece } });
        }
      } catch (error) {
        // The status line is long gone: the stream itself says the turn failed.
        request.log.error({ err: error }, 'chat reply failed while streaming');
        if (sse.isConnected)
          await sse.send({
            event: 'error',
            data: { title: 'The reply could not be finished', requestId: request.id },
          });
        return;
      }
      if (sse.isConnected)
        await sse.send({ event: 'done', data: { sessionId: turn.sessionId, reply: text } });
    },
  );
};

function chatDependencies(
  app: FastifyInstance,
  request: FastifyRequest,
  signal: AbortSignal,
): ChatDependencies {
  return {
    db: app.db,
    recommender: app.recommender,
    searchIndex: app.searchIndex,
    space: app.embedding.policy.space,
    embedQuery: async (text) => {
      try {
        const embedder = await app.embedding.embedder();
        const [vector] = await embedder.embed([text], { signal });
        return vector;
      } catch (error) {
        // The text half of search still answers: a search without meaning beats no answer.
        request.log.warn({ err: error }, 'chat query embedding failed; searching on the text alone');
        return undefined;
      }
    },
    strategies: app.chat.strategies,
    vocabulary: app.chat.vocabulary,
    sessionTtlHours: app.chat.sessionTtlHours,
    log: request.log,
    signal,
    budgetKey: budgetKeyOf(request),
  };
}
