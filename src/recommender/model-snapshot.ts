/**
 * What a process holds of the model in memory (issue 20): the neighbour lists of the last training and the
 * item vectors, in typed arrays, so that a page reads them without a round trip. Pure data structures; the
 * database stays the store of record and src/services/model-snapshot.service.ts keeps these in step with it.
 */

/** A typed array that doubles its capacity as values are pushed. */
class GrowableArray<T extends Int32Array | Float32Array> {
  #values: T;
  readonly #make: (capacity: number) => T;
  length = 0;
  constructor(make: (capacity: number) => T) {
    this.#make = make;
    this.#values = make(1024);
  }
  push(value: number): void {
    if (this.length === this.#values.length) {
      const larger = this.#make(this.#values.length * 2);
      larger.set(this.#values);
      this.#values = larger;
    }
    this.#values[this.length++] = value;
  }
  /** The values pushed, in an array of their exact length. */
  finish(): T {
    return this.#values.slice(0, this.length) as T;
  }
}

/** Dense integer ids for item ids: what the typed arrays are addressed by. */
class ItemIds {
  readonly ids: string[] = [];
  readonly #indexOf = new Map<string, number>();
  index(id: string): number | undefined {
    return this.#indexOf.get(id);
  }
  intern(id: string): number {
    let index = this.#indexOf.get(id);
    if (index === undefined) {
      index = this.ids.length;
      this.ids.push(id);
      this.#indexOf.set(id, index);
    }
    return index;
  }
}

export interface NeighbourList {
  /** Most similar first. */
  neighbourIds: string[];
  scores: number[];
}

export interface NeighbourListRow extends NeighbourList {
  itemId: string;
}

/** Bytes a neighbour list costs in memory (ids as dense indices, scores as float32), for the memory cap. */
export const BYTES_PER_NEIGHBOUR = 8;
/** Bytes an item costs in memory besides its vector or list (its id, the map entry): an estimate. */
export const BYTES_PER_ITEM = 96;

/**
 * The neighbour lists of one training in compressed sparse rows: list k is `neighbours[starts[k] ..
 * starts[k + 1])`, and `listOf[item]` says which list an item has. Lists edited since (an erasure takes
 * pairs out) replace theirs through `edits`.
 */
export class NeighbourLists {
  readonly #items: ItemIds;
  readonly #listOf: Int32Array;
  readonly #starts: Int32Array;
  readonly #neighbours: Int32Array;
  readonly #scores: Float32Array;
  readonly #edits: ReadonlyMap<string, NeighbourList>;

  private constructor(
    parts: {
      items: ItemIds;
      listOf: Int32Array;
      starts: Int32Array;
      neighbours: Int32Array;
      scores: Float32Array;
    },
    edits: ReadonlyMap<string, NeighbourList>,
  ) {
    this.#items = parts.items;
    this.#listOf = parts.listOf;
    this.#starts = parts.starts;
    this.#neighbours = parts.neighbours;
    this.#scores = parts.scores;
    this.#edits = edits;
  }

  /** Builds the lists from rows (each item once; a later row of the same item replaces the earlier). */
  static from(rows: Iterable<NeighbourListRow>): NeighbourLists {
    const builder = NeighbourLists.builder();
    for (const row of rows) builder.add(row);
    return builder.finish();
  }

  /** Builds the lists a row at a time, so that rows read a page at a time need not be held all at once. */
  static builder(): { add(row: NeighbourListRow): void; finish(): NeighbourLists } {
    const items = new ItemIds();
    const owners = new GrowableArray((n) => new Int32Array(n));
    const starts = new GrowableArray((n) => new Int32Array(n));
    const neighbours = new GrowableArray((n) => new Int32Array(n));
    const scores = new GrowableArray((n) => new Float32Array(n));
    const listed = new Set<string>();
    const repeated: NeighbourListRow[] = [];
    return {
      add(row) {
        if (listed.has(row.itemId)) {
          repeated.push(row);
          return;
        }
        listed.add(row.itemId);
        owners.push(items.intern(row.itemId));
        starts.push(neighbours.length);
        const count = Math.min(row.neighbourIds.length, row.scores.length);
        for (let at = 0; at < count; at++) {
          neighbours.push(items.intern(row.neighbourIds[at]!));
          scores.push(row.scores[at]!);
        }
      },
      finish() {
        const listOf = new Int32Array(items.ids.length).fill(-1);
        owners.finish().forEach((item, list) => (listOf[item] = list));
        const lists = new NeighbourLists(
          {
            items,
            listOf,
            starts: starts.finish(),
            neighbours: neighbours.finish(),
            scores: scores.finish(),
          },
          new Map(),
        );
        return repeated.length > 0 ? lists.withEdits(repeated) : lists;
      },
    };
  }

  /** These lists with some replaced (rows edited since they were loaded); this instance is unchanged. */
  withEdits(rows: Iterable<NeighbourListRow>): NeighbourLists {
    const edits = new Map(this.#edits);
    for (const row of rows)
      edits.set(row.itemId, { neighbourIds: [...row.neighbourIds], scores: [...row.scores] });
    return new NeighbourLists(
      {
        items: this.#items,
        listOf: this.#listOf,
        starts: this.#starts,
        neighbours: this.#neighbours,
        scores: this.#scores,
      },
      edits,
    );
  }

  /** The list of an item, undefined when it has none. */
  get(itemId: string): NeighbourList | undefined {
    const edited = this.#edits.get(itemId);
    if (edited) return edited.neighbourIds.length > 0 ? edited : undefined;
    const index = this.#items.index(itemId);
    const list = index === undefined ? -1 : this.#listOf[index]!;
    if (list < 0) return undefined;
    const start = this.#starts[list]!;
    const end = list + 1 < this.#starts.length ? this.#starts[list + 1]! : this.#neighbours.length;
    if (end <= start) return undefined;
    const neighbourIds = new Array<string>(end - start);
    const scores = new Array<number>(end - start);
    for (let at = start; at < end; at++) {
      neighbourIds[at - start] = this.#items.ids[this.#neighbours[at]!]!;
      scores[at - start] = this.#scores[at]!;
    }
    return { neighbourIds, scores };
  }

  /** Items with a list. */
  get size(): number {
    return this.#starts.length;
  }

  /** About how much memory the lists take. */
  get bytes(): number {
    let edited = 0;
    for (const list of this.#edits.values()) edited += list.neighbourIds.length;
    return (
      this.#items.ids.length * BYTES_PER_ITEM +
      this.#listOf.byteLength +
      this.#starts.byteLength +
      (this.#neighbours.length + edited) * BYTES_PER_NEIGHBOUR
    );
  }
}

/**
 * Item vectors quantized to int8 (a quarter of float32's memory): each vector keeps its own scale, so a
 * unit vector comes back within 1/254 of each component, plenty for the similarities a page ranks with.
 * Vectors are set and replaced in place as they are reloaded.
 */
export class ItemVectors {
  readonly dimension: number;
  readonly #items = new ItemIds();
  #values: Int8Array;
  #scales: Float32Array;

  constructor(dimension: number, capacity = 1024) {
    this.dimension = dimension;
    this.#values = new Int8Array(Math.max(1, capacity) * dimension);
    this.#scales = new Float32Array(Math.max(1, capacity));
  }

  /** Stores (or replaces) an item's vector and returns its key; one of another dimension is refused. */
  set(itemId: string, vector: ArrayLike<number>): number | undefined {
    if (vector.length !== this.dimension) return undefined;
    const index = this.#items.intern(itemId);
    if (index >= this.#scales.length) this.#grow(index + 1);
    let largest = 0;
    for (let d = 0; d < vector.length; d++) largest = Math.max(largest, Math.abs(vector[d]!));
    const scale = largest > 0 ? largest / 127 : 1;
    this.#scales[index] = scale;
    const base = index * this.dimension;
    for (let d = 0; d < vector.length; d++) this.#values[base + d] = Math.round(vector[d]! / scale);
    return index;
  }

  /** The key of an item (the dense index the vector index uses), undefined when this holds no vector of it. */
  index(itemId: string): number | undefined {
    return this.#items.index(itemId);
  }

  /** The item of a key. */
  itemId(key: number): string | undefined {
    return this.#items.ids[key];
  }

  /** An item's vector as stored: int8, a view that changes with it. */
  quantized(itemId: string): Int8Array | undefined {
    const index = this.#items.index(itemId);
    if (index === undefined) return undefined;
    return this.#values.subarray(index * this.dimension, (index + 1) * this.dimension);
  }

  /** Every vector, key k at values[k·dimension ..]: a view, copy it to hand it to another thread. */
  raw(): { dimension: number; count: number; values: Int8Array } {
    return {
      dimension: this.dimension,
      count: this.size,
      values: this.#values.subarray(0, this.size * this.dimension),
    };
  }

  /**
   * The cosine similarity of an item's vector (as stored: the int8 scale cancels out) to `query`, whose norm
   * is given; undefined when this holds no vector of the item or the dimensions differ. Allocates nothing.
   */
  cosine(itemId: string, query: ArrayLike<number>, queryNorm: number): number | undefined {
    const index = this.#items.index(itemId);
    if (index === undefined || query.length !== this.dimension || queryNorm === 0) return undefined;
    const values = this.#values;
    const base = index * this.dimension;
    let dot = 0;
    let squares = 0;
    for (let d = 0; d < this.dimension; d++) {
      const value = values[base + d]!;
      dot += value * query[d]!;
      squares += value * value;
    }
    return squares === 0 ? 0 : dot / (Math.sqrt(squares) * queryNorm);
  }

  /** The dot product of an item's vector with `query`, undefined when this holds none of that dimension. */
  dot(itemId: string, query: ArrayLike<number>): number | undefined {
    const index = this.#items.index(itemId);
    if (index === undefined || query.length !== this.dimension) return undefined;
    const values = this.#values;
    const base = index * this.dimension;
    let sum = 0;
    for (let d = 0; d < this.dimension; d++) sum += values[base + d]! * query[d]!;
    return sum * this.#scales[index]!;
  }

  /** An item's vector (a new Float32Array), undefined when this holds none. */
  get(itemId: string): Float32Array | undefined {
    const index = this.#items.index(itemId);
    if (index === undefined) return undefined;
    const scale = this.#scales[index]!;
    const base = index * this.dimension;
    const vector = new Float32Array(this.dimension);
    for (let d = 0; d < this.dimension; d++) vector[d] = this.#values[base + d]! * scale;
    return vector;
  }

  get size(): number {
    return this.#items.ids.length;
  }

  get bytes(): number {
    return this.size * (this.dimension + 4 + BYTES_PER_ITEM);
  }

  #grow(needed: number): void {
    const capacity = Math.max(needed, this.#scales.length * 2);
    const values = new Int8Array(capacity * this.dimension);
    values.set(this.#values);
    const scales = new Float32Array(capacity);
    scales.set(this.#scales);
    this.#values = values;
    this.#scales = scales;
  }
}
