/** One scored item of a ranked list: an index into the interaction matrix's `itemIds`. */
export interface ScoredItem {
  itemIndex: number;
  score: number;
}

/**
 * Keeps the `k` best (index, score) pairs offered to it, in O(log k) per offer and O(k) memory: a bounded
 * min-heap whose root is the worst pair kept. Ties go to the lower index, so rankings are deterministic
 * whatever order candidates arrive in.
 */
export class TopK {
  readonly #capacity: number;
  readonly #scores: Float64Array;
  readonly #indices: Int32Array;
  #size = 0;

  constructor(k: number) {
    this.#capacity = Math.max(0, Math.floor(k));
    this.#scores = new Float64Array(this.#capacity);
    this.#indices = new Int32Array(this.#capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Offers a candidate; NaN scores are ignored. */
  offer(index: number, score: number): void {
    if (this.#capacity === 0 || Number.isNaN(score)) return;
    if (this.#size < this.#capacity) {
      let child = this.#size++;
      while (child > 0) {
        const parent = (child - 1) >> 1;
        if (!this.#worse(score, index, this.#scores[parent]!, this.#indices[parent]!)) break;
        this.#scores[child] = this.#scores[parent]!;
        this.#indices[child] = this.#indices[parent]!;
        child = parent;
      }
      this.#scores[child] = score;
      this.#indices[child] = index;
      return;
    }
    if (!this.#worse(this.#scores[0]!, this.#indices[0]!, score, index)) return;
    this.#siftDown(score, index);
  }

  /** The pairs kept, best first. Leaves the heap empty. */
  drain(): ScoredItem[] {
    const out: ScoredItem[] = new Array<ScoredItem>(this.#size);
    while (this.#size > 0) {
      const last = --this.#size;
      out[last] = { itemIndex: this.#indices[0]!, score: this.#scores[0]! };
      if (last > 0) this.#siftDown(this.#scores[last]!, this.#indices[last]!, last);
    }
    return out;
  }

  /**
   * Writes the pairs kept, best first, at `offset` of two typed arrays (no object per pair, for building
   * millions of neighbour lists) and returns how many. Leaves the heap empty.
   */
  drainInto(indices: Uint32Array, scores: Float32Array, offset: number): number {
    const count = this.#size;
    while (this.#size > 0) {
      const last = --this.#size;
      indices[offset + last] = this.#indices[0]!;
      scores[offset + last] = this.#scores[0]!;
      if (last > 0) this.#siftDown(this.#scores[last]!, this.#indices[last]!, last);
    }
    return count;
  }

  /** Is (scoreA, indexA) ranked below (scoreB, indexB)? */
  #worse(scoreA: number, indexA: number, scoreB: number, indexB: number): boolean {
    return scoreA < scoreB || (scoreA === scoreB && indexA > indexB);
  }

  /** Places (score, index) at the root and restores the heap over the first `size` slots. */
  #siftDown(score: number, index: number, size = this.#size): void {
    let parent = 0;
    for (;;) {
      let child = 2 * parent + 1;
      if (child >= size) break;
      const right = child + 1;
      if (
        right < size &&
        this.#worse(this.#scores[right]!, this.#indices[right]!, this.#scores[child]!, this.#indices[child]!)
      ) {
        child = right;
      }
      if (!this.#worse(this.#scores[child]!, this.#indices[child]!, score, index)) break;
      this.#scores[parent] = this.#scores[child]!;
      this.#indices[parent] = this.#indices[child]!;
      parent = child;
    }
    this.#scores[parent] = score;
    this.#indices[parent] = index;
  }
}
