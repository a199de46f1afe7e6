/**
 * Item-kNN: items are similar when the same users interacted with both (cosine of their user columns), and a
 * user is recommended the items most similar to what they have seen.
 */
import { type InteractionMatrix, capUserHistories } from '../interactions.ts';
import type { ScoredItem } from '../top-k.ts';
import type { CollaborativeStrategy, ScoreOptions, UserHistory } from './collaborative-strategy.ts';
import {
  type ItemNeighbours,
  buildNeighbours,
  neighboursOf,
  scoreFromNeighbours,
} from './item-neighbours.ts';

export interface ItemKnnParams {
  /**
   * Neighbours kept per item: memory is 8 bytes each (80 MB for 100k items at 100) and scoring costs
   * history × neighbours. On ml-100k, 100 keeps 98% of the unpruned NDCG@10.
   */
  neighbours?: number;
  /** Treat every interaction as 1 (default) or use the matrix weights (ratings, watch time...). */
  binary?: boolean;
  /** Added to the cosine's denominator: damps similarities resting on few co-occurrences. 0 = plain cosine. */
  shrink?: number;
  /** Use only each user's latest N items to compute similarities (bounds the Σ history² cost). */
  maxUserItems?: number;
}

export interface ItemKnnModel {
  readonly itemIds: readonly string[];
  readonly binary: boolean;
  /** Row i: the items most similar to i, most similar first. */
  readonly neighbours: ItemNeighbours;
}

export const ITEM_KNN_DEFAULTS = { neighbours: 100, binary: true, shrink: 0 } as const;

/**
 * sim(i, j) = x_i · x_j / (‖x_i‖ ‖x_j‖ + shrink) over user columns, keeping each item's top `neighbours`.
 * Cost: O(Σ_users history²) time (about 15M multiply-adds on movielens-100k), O(items × neighbours)
 * memory; never an items × items matrix, so 100k items / 1M events fit.
 */
export function train(matrix: InteractionMatrix, params: ItemKnnParams = {}): ItemKnnModel {
  const neighbourCount = params.neighbours ?? ITEM_KNN_DEFAULTS.neighbours;
  const binary = params.binary ?? ITEM_KNN_DEFAULTS.binary;
  const shrink = params.shrink ?? ITEM_KNN_DEFAULTS.shrink;
  const data = params.maxUserItems === undefined ? matrix : capUserHistories(matrix, params.maxUserItems);

  const source = binary ? new Float32Array(data.nnz).fill(1) : data.byItem.weight;
  const target = binary ? new Float32Array(data.nnz).fill(1) : data.byUser.weight;
  const norms = new Float64Array(data.itemIds.length);
  for (let i = 0; i < norms.length; i++) {
    let squares = 0;
    for (let e = data.byItem.ptr[i]!; e < data.byItem.ptr[i + 1]!; e++) squares += source[e]! * source[e]!;
    norms[i] = Math.sqrt(squares);
  }
  const neighbours = buildNeighbours(
    data,
    { source, target, finish: (i, j, dot) => dot / (norms[i]! * norms[j]! + shrink) },
    neighbourCount,
  );
  return { itemIds: matrix.itemIds, binary, neighbours };
}

/**
 * score(j) = Σ_{i in history} x_i · sim(i, j) over each history item's kept neighbours; items no history
 * item points to are not returned. Pruning per history item (rather than per candidate, as some libraries
 * do) bounds a request at O(history × neighbours): the other way, a popular item sits in almost every
 * candidate's list and one request can touch the whole catalog. It also matches unpruned cosine more
 * closely on ml-100k (0.158 against 0.151 NDCG@10 at 100 neighbours), at a lower coverage.
 */
export function scoreUser(model: ItemKnnModel, history: UserHistory, options: ScoreOptions): ScoredItem[] {
  return scoreFromNeighbours(model.neighbours, history, options, !model.binary);
}

/** The kept neighbours of one item, most similar first. O(k). */
export function similarItems(model: ItemKnnModel, itemIndex: number, k: number): ScoredItem[] {
  return neighboursOf(model.neighbours, itemIndex, k);
}

export const itemKnn = {
  name: 'item-knn',
  train,
  scoreUser,
  similarItems,
} satisfies CollaborativeStrategy<ItemKnnParams, ItemKnnModel>;
