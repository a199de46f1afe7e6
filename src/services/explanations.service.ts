import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import type { ExplanationLocale } from '../explain/locale.ts';
import { type ExplanationContext, explainWithTemplate } from '../explain/template-explainer.ts';
import { findItemSummaries } from '../repositories/candidates.repository.ts';
import type { RecommendedItem } from '../schemas/recommendations.schema.ts';

export interface PageExplanationRequest {
  locale: ExplanationLocale;
  context: ExplanationContext;
}

/**
 * The page with an explanation on each item. Added after the page is read from the cache (a template costs
 * microseconds, so caching it would only multiply the page's cache entries by the locales); the cached page
 * itself is never modified. The titles the sentences cite come from one query for the whole page.
 */
export async function explainPage<P extends { items: RecommendedItem[] }>(
  db: Kysely<Database>,
  page: P,
  request: PageExplanationRequest,
): Promise<P> {
  const evidenceIds = new Set(
    page.items.flatMap((entry) => entry.reasons.flatMap((reason) => reason.evidenceItemIds)),
  );
  const evidence = await findItemSummaries(db, [...evidenceIds]);
  return {
    ...page,
    items: page.items.map((entry) => ({
      ...entry,
      explanation: explainWithTemplate(entry, evidence, request),
    })),
  };
}
