import { createHash, randomBytes } from 'node:crypto';
import { JSONParser } from '@streamparser/json';
import type { Kysely } from 'kysely';
import type { Cache } from '../cache/cache.ts';
import type { Database } from '../db/database.ts';
import {
  buildExplanationPrompt,
  checkExplanation,
  EXPLANATION_PROMPT_VERSION,
  explanationInstructions,
  type LlmExplanation,
  llmExplanationsSchema,
  normaliseForMatch,
  titleCandidates,
} from '../explain/llm-explainer.ts';
import type { ExplanationLocale } from '../explain/locale.ts';
import { type ExplanationContext, explainWithTemplate, pageVariety } from '../explain/template-explainer.ts';
import { type LanguageModel, llmFailureReason } from '../llm/language-model.ts';
import type { AppMetrics } from '../metrics.ts';
import { coViewerKey, countCoViewers } from '../repositories/events.repository.ts';
import { findEvidenceItems, findTitlesAmong } from '../repositories/items.repository.ts';
import { findUserById } from '../repositories/users.repository.ts';
import type { Explanation, ExplanationStream, RecommendedItem } from '../schemas/recommendations.schema.ts';
import { userCachePrefix } from './users.service.ts';

export interface ExplanationDependencies {
  db: Kysely<Database>;
  cache: Cache;
  /** The explanation model; undefined: templates only. */
  llm: LanguageModel | undefined;
  metrics?: Pick<AppMetrics, 'llmFallbacks'>;
  settings: {
    cacheSeconds: number;
    includeUserAttributes: boolean;
    /** The event types that count a viewer (positiveEventTypes): behind "N viewers watched both". */
    positiveTypes: readonly string[];
  };
}

export interface PageExplanationRequest {
  locale: ExplanationLocale;
  context: ExplanationContext;
  /** Whose page it is: part of the cache key, and whose attributes may go into the prompt. */
  userId?: string | undefined;
  /** Whose daily token budget pays (an API key id). */
  budgetKey?: string | undefined;
  /** When the LLM must have answered (epoch milliseconds); the items still missing then get templates. */
  deadline: number;
  /** Stops waiting for the LLM early (the client went away). */
  signal?: AbortSignal | undefined;
}

/** Called with each explanation as soon as it is settled (cache, LLM or template), for streaming. */
export type OnExplanation = (itemId: string, explanation: Explanation) => void | Promise<void>;

/**
 * The page with an explanation on each item: from the explanation cache, else from one LLM call for all the
 * items missing (checked, see src/explain/llm-explainer.ts), else from the template; never an error and
 * never later than the deadline. The cached page itself is never modified.
 */
export async function explainPage<P extends { items: RecommendedItem[] }>(
  deps: ExplanationDependencies,
  page: P,
  request: PageExplanationRequest,
): Promise<P> {
  const explanations = await explainItems(deps, page.items, request);
  return {
    ...page,
    items: page.items.map((entry) => ({ ...entry, explanation: explanations.get(entry.itemId)! })),
  };
}

/**
 * Explanations for the items, by item id. With `onExplanation`, the LLM's answer is streamed and each
 * explanation handed over as soon as it is written and checked (explain=async).
 */
export async function explainItems(
  deps: ExplanationDependencies,
  items: readonly RecommendedItem[],
  request: PageExplanationRequest,
  onExplanation?: OnExplanation,
): Promise<Map<string, Explanation>> {
  const { db, cache, llm } = deps;
  const settled = new Map<string, Explanation>();
  const settle = async (itemId: string, explanation: Explanation) => {
    if (settled.has(itemId)) return;
    settled.set(itemId, explanation);
    await onExplanation?.(itemId, explanation);
  };
  const evidenceIds = new Set(
    items.flatMap((entry) => entry.reasons.flatMap((reason) => reason.evidenceItemIds)),
  );
  const evidence = await findEvidenceItems(db, [...evidenceIds]);
  // Counted only when a template is written (not for a page the LLM or the cache explains), once a page.
  let coViewers: Promise<Map<string, number>> | undefined;
  // One page, one variety: the items' sentences take different phrasings, in page order.
  const variety = pageVariety();
  const template = async (entry: RecommendedItem) => {
    coViewers ??= countCoViewers(db, coViewedPairs(items), deps.settings.positiveTypes);
    const counted = await coViewers;
    return explainWithTemplate(entry, evidence, {
      ...request,
      variety,
      coViewers: (itemId, evidenceId) => counted.get(coViewerKey(itemId, evidenceId)),
    });
  };
  const fallBack = async (entries: readonly RecommendedItem[], reason: string) => {
    for (const entry of entries) {
      if (settled.has(entry.itemId)) continue;
      if (llm) deps.metrics?.llmFallbacks.inc({ purpose: 'explain', reason });
      await settle(entry.itemId, await template(entry));
    }
  };
  if (!llm || items.length === 0) {
    await fallBack(items, 'disabled');
    return settled;
  }

  const keys = new Map(items.map((entry) => [entry.itemId, cacheKey(llm, entry, request)]));
  const cached = await Promise.all(items.map((entry) => cache.get<Explanation>(keys.get(entry.itemId)!)));
  const missing: RecommendedItem[] = [];
  for (const [index, entry] of items.entries()) {
    const hit = cached[index];
    if (hit) await settle(entry.itemId, hit);
    else missing.push(entry);
  }
  if (missing.length === 0) return settled;

  const remaining = Math.floor(request.deadline - Date.now());
  if (remaining <= 0) {
    await fallBack(missing, 'timeout');
    return settled;
  }
  const viewer =
    deps.settings.includeUserAttributes && request.userId
      ? (await findUserById(db, request.userId))?.attributes
      : undefined;
  const prompt = buildExplanationPrompt({
    items: missing,
    evidence,
    locale: request.locale,
    context: request.context,
    viewer,
  });
  const instructions = explanationInstructions(request.locale, request.context);
  const pageItemIds = new Set(missing.map((entry) => entry.itemId));
  const byId = new Map(missing.map((entry) => [entry.itemId, entry]));

  /** Checks one answer entry, then shows and caches it, or falls back for that item. */
  const accept = async (answer: LlmExplanation) => {
    const entry = byId.get(answer.itemId);
    if (!entry || settled.has(answer.itemId)) return;
    const catalogTitlesNamed = new Set(
      (await findTitlesAmong(db, titleCandidates(answer.text))).map(normaliseForMatch),
    );
    const checked = checkExplanation(answer, { pageItemIds, prompt, catalogTitlesNamed, instructions });
    if (!checked.ok) {
      await fallBack([entry], 'ungrounded');
      return;
    }
    const explanation: Explanation = {
      text: checked.text,
      source: 'llm',
      evidenceItemIds: checked.evidenceItemIds,
    };
    await settle(entry.itemId, explanation);
    await cache.set(keys.get(entry.itemId)!, explanation, deps.settings.cacheSeconds);
  };

  const signal = AbortSignal.any([
    AbortSignal.timeout(remaining),
    ...(request.signal ? [request.signal] : []),
  ]);
  const streamed = onExplanation ? streamedEntries(accept) : undefined;
  try {
    const answer = await llm.generateObject({
      purpose: 'explain',
      messages: prompt.messages,
      schema: llmExplanationsSchema,
      schemaName: 'page_explanations',
      // About 80 tokens a sentence with its ids, and room for the JSON around them.
      maxTokens: 100 + missing.length * 90,
      signal,
      budgetKey: request.budgetKey,
      ...(streamed && { onText: streamed.write }),
    });
    await streamed?.settledSoFar();
    for (const entry of answer.explanations) await accept(entry);
    await fallBack(missing, 'missing');
  } catch (error) {
    await streamed?.settledSoFar();
    await fallBack(missing, llmFailureReason(error));
  }
  return settled;
}

/**
 * The (item, evidence item) pairs a co-viewing sentence may count the viewers of: the first evidence item
 * of each item's collaborative or co-viewed session reason (the one its sentence names first).
 */
function coViewedPairs(items: readonly RecommendedItem[]): { itemId: string; evidenceId: string }[] {
  const pairs: { itemId: string; evidenceId: string }[] = [];
  for (const entry of items)
    for (const reason of entry.reasons) {
      const coViewing =
        reason.source === 'collaborative' || (reason.source === 'session' && reason.coViewed === true);
      if (coViewing)
        pairs.push(
          ...reason.evidenceItemIds.slice(0, 2).map((evidenceId) => ({ itemId: entry.itemId, evidenceId })),
        );
    }
  return pairs;
}

/** How long an explain=async stream URL stays valid: enough to open it, and to reconnect once or twice. */
export const EXPLANATION_STREAM_TTL_SECONDS = 600;

/** What an explain=async stream needs to write the explanations later, on any replica. */
interface StoredExplanationStream {
  items: RecommendedItem[];
  request: Omit<PageExplanationRequest, 'deadline' | 'signal'>;
}

/**
 * Saves what the page's explanations need in the shared cache under a random id (the URL is the secret:
 * EventSource cannot send credentials) and answers where to stream them from.
 */
export async function openExplanationStream(
  cache: Cache,
  items: readonly RecommendedItem[],
  request: Omit<PageExplanationRequest, 'deadline' | 'signal'>,
  now = new Date(),
): Promise<ExplanationStream> {
  const id = randomBytes(16).toString('base64url');
  // Only what explaining reads: the item summary and reasons, not the whole page.
  const stored: StoredExplanationStream = {
    items: items.map((entry) => ({
      itemId: entry.itemId,
      score: entry.score,
      item: entry.item,
      reasons: entry.reasons,
      ...(entry.signals && { signals: entry.signals }),
    })),
    request,
  };
  await cache.set(explanationStreamKey(id), stored, EXPLANATION_STREAM_TTL_SECONDS);
  return {
    url: `/v1/explanations/${id}`,
    expiresAt: new Date(now.getTime() + EXPLANATION_STREAM_TTL_SECONDS * 1000).toISOString(),
  };
}

/**
 * Writes a stream's explanations, handing each to `onExplanation` as it is settled; false when the stream
 * is unknown or expired.
 */
export async function runExplanationStream(
  deps: ExplanationDependencies,
  id: string,
  timing: { deadline: number; signal?: AbortSignal | undefined },
  onExplanation: OnExplanation,
): Promise<boolean> {
  const stored = await deps.cache.get<StoredExplanationStream>(explanationStreamKey(id));
  if (!stored) return false;
  await explainItems(deps, stored.items, { ...stored.request, ...timing }, onExplanation);
  return true;
}

export function explanationStreamExists(cache: Cache, id: string): Promise<boolean> {
  return cache.get(explanationStreamKey(id)).then((found) => found !== undefined);
}

const explanationStreamKey = (id: string) => `explanation-stream:${id}`;

/**
 * Feeds the streamed answer to an incremental JSON parser that hands over each `explanations[]` entry as
 * soon as its closing brace arrives; entries that do not have the schema's shape are left to the final check.
 */
function streamedEntries(accept: (entry: LlmExplanation) => Promise<void>) {
  const parser = new JSONParser({ paths: ['$.explanations.*'], keepStack: false });
  let chain = Promise.resolve();
  let broken = false;
  parser.onValue = ({ value }) => {
    const entry = llmExplanationsSchema.shape.explanations.element.safeParse(value);
    if (entry.success) chain = chain.then(() => accept(entry.data)).catch(() => undefined);
  };
  parser.onError = () => {
    broken = true;
  };
  return {
    write: (delta: string) => {
      if (broken) return;
      try {
        parser.write(delta);
      } catch {
        broken = true;
      }
    },
    settledSoFar: () => chain,
  };
}

/**
 * One explanation per (user, item, reasons, model, prompt version, language): the same reasons for the same
 * viewer read the same until the TTL, and a change in any of them writes a new one.
 */
function cacheKey(llm: LanguageModel, entry: RecommendedItem, request: PageExplanationRequest): string {
  const evidence = createHash('sha256')
    .update(
      JSON.stringify([
        request.context,
        // The details too: a count that changed (an erased viewer) must not be read in an old sentence.
        entry.reasons.map((reason) => [reason.source, reason.evidenceItemIds, reason.detail]),
      ]),
    )
    .digest('base64url')
    .slice(0, 16);
  // Under the user's prefix, so that erasing the user drops their explanations with their pages.
  const owner = request.userId === undefined ? 'anonymous:' : userCachePrefix(request.userId);
  return `${owner}explanation:v${EXPLANATION_PROMPT_VERSION}:${llm.model}:${request.locale}:${entry.itemId}:${evidence}`;
}
