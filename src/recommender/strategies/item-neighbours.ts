/**
 * Sparse top-N item-item neighbour lists, the shared core of item-kNN and RP3beta: built from
 * co-occurrences without ever holding a dense items × items matrix, then used to score a user's history.
 */
import type { InteractionMatrix, UserHistory } from '../interactions.ts';
import { type ScoredItem, TopK } from '../top-k.ts';
import { type ScoreOptions, excludedSet } from './collaborative-strategy.ts';

/** Row i holds up to N (item, score) pairs at `ptr[i]` to `ptr[i + 1]`, best first. */
export interface ItemNeighbours {
  readonly ptr: Uint32Array;
  readonly index: Uint32Array;
  readonly score: Float32Array;
}

export interface NeighbourKernel {
  /** A value per `byItem` entry: user u's contribution when item i is the source. */
  source: Float32Array;
  /** A value per `byUser` entry: user u's contribution towards item j. */
  target: Float32Array;
  /** Turns Σ_u source(u, i) · target(u, j) into the similarity of i to j (0 or less drops the pair). */
  finish: (i: number, j: number, dot: number) => number;
}

/**
 * For every item i, the `neighbours` items j ≠ i with the highest finish(i, j, Σ_u source · target).
 * Cost: O(Σ_users history²) multiply-adds, O(items) scratch, O(items × neighbours) output; no n × n.
 */
export function buildNeighbours(
  matrix: InteractionMatrix,
  kernel: NeighbourKernel,
  neighbours: number,
): ItemNeighbours {
  const nItems = matrix.itemIds.length;
  // Locals, not property reads, in the hot loops: V8 does not always hoist them.
  const itemPtr = matrix.byItem.ptr;
  const itemUsers = matrix.byItem.index;
  const userPtr = matrix.byUser.ptr;
  const userItems = matrix.byUser.index;
  const { source, target, finish } = kernel;
  const acc = new Float64Array(nItems);
  const touched = new Uint32Array(nItems);
  const stamp = new Int32Array(nItems).fill(-1);
  const ptr = new Uint32Array(nItems + 1);
  let index = new Uint32Array(Math.min(nItems * neighbours, 1 << 20));
  let score = new Float32Array(index.length);
  let size = 0;
  const top = new TopK(neighbours);

  for (let i = 0; i < nItems; i++) {
    let nTouched = 0;
    for (let e = itemPtr[i]!, end = itemPtr[i + 1]!; e < end; e++) {
      const u = itemUsers[e]!;
      const a = source[e]!;
      for (let f = userPtr[u]!, rowEnd = userPtr[u + 1]!; f < rowEnd; f++) {
        const j = userItems[f]!;
        if (stamp[j] !== i) {
          stamp[j] = i;
          touched[nTouched++] = j;
        }
        acc[j]! += a * target[f]!;
      }
    }
    for (let t = 0; t < nTouched; t++) {
      const j = touched[t]!;
      const dot = acc[j]!;
      acc[j] = 0;
      if (j === i) continue;
      const similarity = finish(i, j, dot);
      if (similarity > 0) top.offer(j, similarity);
    }
    if (size + top.size > index.length) {
      const grown = Math.max(index.length * 2, size + top.size);
      index = grow(index, grown);
      score = grow(score, grown);
    }
    size += top.drainInto(index, score, size);
    ptr[i + 1] = size;
  }
  return { ptr, index: index.slice(0, size), score: score.slice(0, size) };
}

/**
 * score(j) = Σ_{i in history} weight(i) · votes[i][j], the best `k` of them, where row i of `votes` lists the
 * items i votes for. Cost: O(history × row length + touched × log k). Scratch is a Map when few entries
 * will be touched, else dense arrays: allocating 0.9 MB per request for a 100k-item catalog and a short
 * history cost more than the scoring itself.
 */
export function scoreFromNeighbours(
  votes: ItemNeighbours,
  history: UserHistory,
  options: ScoreOptions,
  useWeights: boolean,
): ScoredItem[] {
  const nItems = votes.ptr.length - 1;
  let updates = 0;
  for (let h = 0; h < history.items.length; h++) {
    const i = history.items[h]!;
    if (i < nItems) updates += votes.ptr[i + 1]! - votes.ptr[i]!;
  }
  const exclude = excludedSet(options.exclude);
  const top = new TopK(options.k);
  const forEachVote = (add: (j: number, value: number) => void) => {
    for (let h = 0; h < history.items.length; h++) {
      const i = history.items[h]!;
      if (i >= nItems) continue;
      const w = useWeights ? (history.weights?.[h] ?? 1) : 1;
      for (let n = votes.ptr[i]!, end = votes.ptr[i + 1]!; n < end; n++)
        add(votes.index[n]!, w * votes.score[n]!);
    }
  };

  if (updates * 8 < nItems) {
    const acc = new Map<number, number>();
    forEachVote((j, value) => acc.set(j, (acc.get(j) ?? 0) + value));
    for (const [j, score] of acc) if (!exclude.has(j)) top.offer(j, score);
    return top.drain();
  }
  const acc = new Float64Array(nItems);
  const seen = new Uint8Array(nItems);
  const touched: number[] = [];
  forEachVote((j, value) => {
    if (seen[j] === 0) {
      seen[j] = 1;
      touched.push(j);
    }
    acc[j]! += value;
  });
  for (const j of touched) if (!exclude.has(j)) top.offer(j, acc[j]!);
  return top.drain();
}

/** The first `k` entries of row i (rows are stored best first). */
export function neighboursOf(neighbours: ItemNeighbours, itemIndex: number, k: number): ScoredItem[] {
  const out: ScoredItem[] = [];
  if (itemIndex < 0 || itemIndex >= neighbours.ptr.length - 1) return out;
  const end = Math.min(neighbours.ptr[itemIndex + 1]!, neighbours.ptr[itemIndex]! + Math.max(0, k));
  for (let n = neighbours.ptr[itemIndex]!; n < end; n++) {
    out.push({ itemIndex: neighbours.index[n]!, score: neighbours.score[n]! });
  }
  return out;
}

function grow<T extends Uint32Array | Float32Array>(array: T, length: number): T {
  const grown = new (array.constructor as new (length: number) => T)(length);
  grown.set(array);
  return grown;
}
