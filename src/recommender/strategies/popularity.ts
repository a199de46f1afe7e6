/**
 * Popularity: the same ranking for everyone, by how many users interacted with each item, optionally with
 * recent interactions counting more. The baseline every other strategy must beat, and the fallback for
 * users with no history.
 */
import type { InteractionMatrix } from '../interactions.ts';
import type { ScoredItem } from '../top-k.ts';
import {
  type CollaborativeStrategy,
  type ScoreOptions,
  type UserHistory,
  excludedSet,
} from './collaborative-strategy.ts';

export interface PopularityParams {
  /** Count each interaction as its weight instead of 1. */
  weighted?: boolean;
  /**
   * Halves an interaction's contribution every `halfLife` time units (the unit of the matrix's times).
   * Omit for plain counts.
   */
  halfLife?: number;
  /** The time decay is measured from; defaults to the latest interaction, so training stays pure. */
  now?: number;
}

export interface PopularityModel {
  readonly itemIds: readonly string[];
  readonly scores: Float64Array;
  /** Item indices, most popular first (ties: lower index first); items nobody touched are left out. */
  readonly ranking: Uint32Array;
}

/** score(i) = Σ_u weight · 0.5^((now − time) / halfLife). O(nnz + items log items). */
export function train(matrix: InteractionMatrix, params: PopularityParams = {}): PopularityModel {
  const { byItem } = matrix;
  const nItems = matrix.itemIds.length;
  let now = params.now;
  if (params.halfLife !== undefined && now === undefined) {
    now = -Infinity;
    for (const t of byItem.time) now = Math.max(now, t);
  }
  const scores = new Float64Array(nItems);
  for (let i = 0; i < nItems; i++) {
    let score = 0;
    for (let e = byItem.ptr[i]!; e < byItem.ptr[i + 1]!; e++) {
      let contribution = params.weighted ? byItem.weight[e]! : 1;
      if (params.halfLife !== undefined) contribution *= 0.5 ** ((now! - byItem.time[e]!) / params.halfLife);
      score += contribution;
    }
    scores[i] = score;
  }
  const ranking = Uint32Array.from(
    Array.from({ length: nItems }, (_, i) => i)
      .filter((i) => byItem.ptr[i + 1]! > byItem.ptr[i]!)
      .sort((a, b) => scores[b]! - scores[a]! || a - b),
  );
  return { itemIds: matrix.itemIds, scores, ranking };
}

/** The most popular items not excluded; the history itself plays no part. O(k + excluded). */
export function scoreUser(
  model: PopularityModel,
  _history: UserHistory,
  options: ScoreOptions,
): ScoredItem[] {
  const exclude = excludedSet(options.exclude);
  const out: ScoredItem[] = [];
  for (const i of model.ranking) {
    if (out.length >= options.k) break;
    if (!exclude.has(i)) out.push({ itemIndex: i, score: model.scores[i]! });
  }
  return out;
}

export const popularity = {
  name: 'popularity',
  train,
  scoreUser,
} satisfies CollaborativeStrategy<PopularityParams, PopularityModel>;
