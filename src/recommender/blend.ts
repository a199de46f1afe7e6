/**
 * The blend ranker: each candidate source's scores are normalised to [0.1, 1] within that source (min-max,
 * so sources on different scales — cosine similarities near 0.8, co-occurrence sums in the hundreds — can be
 * weighed against each other), multiplied by the source's weight, and summed per item. Pure.
 */
import type { CandidateSource, SourceWeights } from '../config.ts';
import type { RankingSignal } from './ranking/ranking-signals.ts';

/** Where a search matched the query: a field of the item, any of them, or its meaning (embedding). */
export const SEARCH_MATCHES = ['title', 'credits', 'labels', 'description', 'any', 'meaning'] as const;
export type SearchMatch = (typeof SEARCH_MATCHES)[number];

/**
 * What a source knows about why it proposed an item, as typed fields set where the fact is known. The
 * explainers read these, never the `detail` prose.
 */
export interface ReasonFacts {
  /** trending, popular: the distinct viewers behind the statistic. */
  viewers?: number;
  /** trending: over the past week (decayed); popular: of all time. */
  window?: 'week' | 'all-time';
  /** session: people watch it right after the evidence (true), or it is close in content to it (false). */
  coViewed?: boolean;
  /** session: the evidence are titles the user named in a conversation, not items they viewed. */
  mentioned?: boolean;
  /** search: the query, and where it matched. */
  query?: string;
  match?: SearchMatch;
  /** fresh: the item's release year. */
  releaseYear?: number;
}

export interface Reason extends ReasonFacts {
  source: CandidateSource | 'search' | 'exploration';
  detail: string;
  evidenceItemIds: string[];
}

/** One item a source proposes, with its raw score (higher is better) and why. */
export interface Candidate extends ReasonFacts {
  itemId: string;
  score: number;
  detail: string;
  evidenceItemIds: string[];
}

/** The facts of a candidate or reason that are set: the fields of ReasonFacts only. */
export function reasonFacts(from: ReasonFacts): ReasonFacts {
  const facts: ReasonFacts = {};
  if (from.viewers !== undefined) facts.viewers = from.viewers;
  if (from.window !== undefined) facts.window = from.window;
  if (from.coViewed !== undefined) facts.coViewed = from.coViewed;
  if (from.mentioned !== undefined) facts.mentioned = from.mentioned;
  if (from.query !== undefined) facts.query = from.query;
  if (from.match !== undefined) facts.match = from.match;
  if (from.releaseYear !== undefined) facts.releaseYear = from.releaseYear;
  return facts;
}

export interface SourceCandidates {
  source: CandidateSource;
  candidates: readonly Candidate[];
}

export interface BlendedCandidate {
  itemId: string;
  score: number;
  /** What each source added to the score. */
  shares: Partial<Record<CandidateSource, number>>;
  /** Each source that proposed the item, the largest contribution first. */
  reasons: Reason[];
  /** The learned ranker's: what set the item apart from the other candidates, strongest first. */
  signals?: RankingSignal[];
}

/** Lowest normalised score: the last candidate of a source still counts for something. */
const FLOOR = 0.1;

export function blendCandidates(
  lists: readonly SourceCandidates[],
  weights: SourceWeights,
): BlendedCandidate[] {
  const byItem = new Map<
    string,
    {
      score: number;
      shares: Partial<Record<CandidateSource, number>>;
      parts: { share: number; reason: Reason }[];
    }
  >();
  for (const { source, candidates } of lists) {
    const weight = weights[source] ?? 0;
    if (weight <= 0 || candidates.length === 0) continue;
    let min = Infinity;
    let max = -Infinity;
    for (const candidate of candidates) {
      min = Math.min(min, candidate.score);
      max = Math.max(max, candidate.score);
    }
    const seen = new Set<string>();
    for (const candidate of candidates) {
      if (seen.has(candidate.itemId)) continue;
      seen.add(candidate.itemId);
      const normalised = max > min ? FLOOR + ((1 - FLOOR) * (candidate.score - min)) / (max - min) : 1;
      const share = weight * normalised;
      const entry = byItem.get(candidate.itemId) ?? { score: 0, shares: {}, parts: [] };
      entry.score += share;
      entry.shares[source] = (entry.shares[source] ?? 0) + share;
      entry.parts.push({
        share,
        reason: {
          source,
          detail: candidate.detail,
          evidenceItemIds: [...candidate.evidenceItemIds],
          ...reasonFacts(candidate),
        },
      });
      byItem.set(candidate.itemId, entry);
    }
  }
  return [...byItem]
    .map(([itemId, { score, shares, parts }]) => ({
      itemId,
      score,
      shares,
      reasons: parts.sort((a, b) => b.share - a.share).map((part) => part.reason),
    }))
    .sort(byScoreThenId);
}

export function byScoreThenId(
  a: { score: number; itemId: string },
  b: { score: number; itemId: string },
): number {
  return b.score - a.score || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0);
}
