import type { InteractionMatrix, UserHistory } from '../interactions.ts';
import type { ScoredItem } from '../top-k.ts';

export type { ScoredItem } from '../top-k.ts';
export type { UserHistory } from '../interactions.ts';

export interface ScoreOptions {
  /** How many items to return at most. */
  k: number;
  /**
   * Item indices never to return. A user's own history is not excluded unless listed here: the engine
   * decides (a "watch again" row wants it, "because you watched" does not).
   */
  exclude?: Iterable<number>;
}

/**
 * The shape every collaborative candidate source shares, so the engine, the retraining worker and the
 * offline evaluation can treat them alike. Models work in the item index space of the matrix they were
 * trained on and keep its `itemIds` to map back.
 */
export interface CollaborativeStrategy<Params, Model> {
  /** Appears in each result's `reasons`. */
  readonly name: string;
  train(matrix: InteractionMatrix, params: Params): Model;
  /** The best `k` items for a user with this history, best first, never an excluded item. */
  scoreUser(model: Model, history: UserHistory, options: ScoreOptions): ScoredItem[];
  /** The `k` items most similar to one item, best first, never the item itself. */
  similarItems?(model: Model, itemIndex: number, k: number): ScoredItem[];
}

export function excludedSet(exclude: Iterable<number> | undefined): ReadonlySet<number> {
  if (exclude === undefined) return new Set();
  return exclude instanceof Set ? (exclude as ReadonlySet<number>) : new Set(exclude);
}
