import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { resolveLocale } from '../explain/locale.ts';
import type { ExplanationContext } from '../explain/template-explainer.ts';
import type { ExplanationStream, RecommendedItem } from '../schemas/recommendations.schema.ts';
import { explainPage, openExplanationStream } from '../services/explanations.service.ts';
import type { PageAnswer } from '../services/recommendations.service.ts';
import { cancellationSignal } from './request-cancellation.ts';

export interface ExplainAsk {
  explain: boolean | 'async';
  locale?: string | undefined;
}

/**
 * The page as the request asked for it: unchanged (explain=false), explained within the explanation budget
 * counted from the request's arrival (true), or with the URL that streams its explanations (async).
 * Content-Language says the language of the explanations. Shared by every route that returns items.
 */
export async function withRequestedExplanations<P extends { items: RecommendedItem[] }>(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  page: P,
  ask: ExplainAsk,
  context: ExplanationContext,
  userId: string | undefined,
): Promise<P & { explanationStream?: ExplanationStream }> {
  if (ask.explain === false) return page;
  const locale = resolveLocale(ask.locale, request.headers['accept-language']);
  reply.header('content-language', locale);
  const budgetKey = budgetKeyOf(request);
  if (ask.explain === 'async')
    return {
      ...page,
      explanationStream: await openExplanationStream(app.cache, page.items, {
        locale,
        context,
        userId,
        budgetKey,
      }),
    };
  return explainPage(app.explanations, page, {
    locale,
    context,
    userId,
    budgetKey,
    deadline: Date.now() + app.explanations.budgetMs - reply.elapsedTime,
    signal: cancellationSignal(request, reply),
  });
}

/**
 * A recommendation page as asked for: without explanations, its cached JSON text sent as it is (no parse,
 * no re-serialisation: the cached path's main costs); with them, explained.
 */
export async function answerPage(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  answer: PageAnswer,
  ask: ExplainAsk,
  context: ExplanationContext,
  userId: string | undefined,
) {
  reply.header('x-cache', answer.cache);
  if (ask.explain === false) return reply.type('application/json; charset=utf-8').send(answer.json);
  return withRequestedExplanations(app, request, reply, answer.page, ask, context, userId);
}

/** Whose daily LLM token budget a request spends: its API key, or its user token's user. */
export function budgetKeyOf(request: FastifyRequest): string | undefined {
  const principal = request.principal;
  if (!principal) return undefined;
  return principal.kind === 'api-key' ? `key:${principal.keyId}` : `user:${principal.userId}`;
}
