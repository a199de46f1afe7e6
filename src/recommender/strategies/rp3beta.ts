/**
 * RP3beta (Paudel et al., "Updatable, Accurate, Diverse, and Scalable Recommendations for Interactive
 * Applications", TiiS 2017): a three-step random walk item → user → item on the interaction graph, with
 * transition probabilities raised to `alpha` and the landing item's popularity divided out to the power
 * `beta`. Close to EASE in accuracy on many datasets at item-kNN's sparse cost, and less popularity-biased.
 */
import { type InteractionMatrix, capUserHistories, itemDegrees } from '../interactions.ts';
import type { ScoredItem } from '../top-k.ts';
import type { CollaborativeStrategy, ScoreOptions, UserHistory } from './collaborative-strategy.ts';
import {
  type ItemNeighbours,
  buildNeighbours,
  neighboursOf,
  scoreFromNeighbours,
} from './item-neighbours.ts';

export interface Rp3betaParams {
  /** Exponent on each transition probability: below 1 flattens the walk, above 1 sharpens it. */
  alpha?: number;
  /** Popularity penalty: the landing item's score is divided by its degree^beta. 0 = plain P³. */
  beta?: number;
  /** Neighbours kept per item (8 bytes each). */
  neighbours?: number;
  /** Treat every interaction as 1 (default) or use the matrix weights as transition weights. */
  binary?: boolean;
  /** Use only each user's latest N items to build the graph (bounds the Σ history² cost). */
  maxUserItems?: number;
}

export interface Rp3betaModel {
  readonly itemIds: readonly string[];
  readonly binary: boolean;
  /** Row i: the items a walk from i lands on most, scores W[i][j]; rows are not symmetric. */
  readonly neighbours: ItemNeighbours;
}

// Best of a small grid on ml-100k (bench/collaborative-eval.bench.ts); beta above 0.7 collapses accuracy.
export const RP3BETA_DEFAULTS = { alpha: 0.5, beta: 0.6, neighbours: 100, binary: true } as const;

/**
 * W[i][j] = Σ_u (x_ui / Σ_v x_vi)^alpha · (x_uj / Σ_l x_ul)^alpha / deg(j)^beta, each item's top
 * `neighbours` kept. Cost: O(Σ_users history²) time, O(items × neighbours) memory; no items × items.
 */
export function train(matrix: InteractionMatrix, params: Rp3betaParams = {}): Rp3betaModel {
  const alpha = params.alpha ?? RP3BETA_DEFAULTS.alpha;
  const beta = params.beta ?? RP3BETA_DEFAULTS.beta;
  const binary = params.binary ?? RP3BETA_DEFAULTS.binary;
  const data = params.maxUserItems === undefined ? matrix : capUserHistories(matrix, params.maxUserItems);
  const { byUser, byItem } = data;

  // item → user: normalised over the item's users.
  const source = new Float32Array(data.nnz);
  for (let i = 0; i < data.itemIds.length; i++) {
    const start = byItem.ptr[i]!;
    const end = byItem.ptr[i + 1]!;
    let total = 0;
    for (let e = start; e < end; e++) total += binary ? 1 : byItem.weight[e]!;
    for (let e = start; e < end; e++) source[e] = ((binary ? 1 : byItem.weight[e]!) / total) ** alpha;
  }
  // user → item: normalised over the user's items.
  const target = new Float32Array(data.nnz);
  for (let u = 0; u < data.userIds.length; u++) {
    const start = byUser.ptr[u]!;
    const end = byUser.ptr[u + 1]!;
    let total = 0;
    for (let f = start; f < end; f++) total += binary ? 1 : byUser.weight[f]!;
    for (let f = start; f < end; f++) target[f] = ((binary ? 1 : byUser.weight[f]!) / total) ** alpha;
  }
  const degrees = itemDegrees(data);
  const penalty = Float64Array.from(degrees, (degree) => (degree > 0 ? degree ** -beta : 0));
  const neighbours = buildNeighbours(
    data,
    { source, target, finish: (_i, j, dot) => dot * penalty[j]! },
    params.neighbours ?? RP3BETA_DEFAULTS.neighbours,
  );
  return { itemIds: matrix.itemIds, binary, neighbours };
}

/** score(j) = Σ_{i in history} W[i][j] over kept pairs. Cost: O(history × neighbours), O(items) scratch. */
export function scoreUser(model: Rp3betaModel, history: UserHistory, options: ScoreOptions): ScoredItem[] {
  return scoreFromNeighbours(model.neighbours, history, options, !model.binary);
}

/** Where a walk from `itemIndex` lands most, popularity-penalised. O(k). */
export function similarItems(model: Rp3betaModel, itemIndex: number, k: number): ScoredItem[] {
  return neighboursOf(model.neighbours, itemIndex, k);
}

export const rp3beta = {
  name: 'rp3beta',
  train,
  scoreUser,
  similarItems,
} satisfies CollaborativeStrategy<Rp3betaParams, Rp3betaModel>;
