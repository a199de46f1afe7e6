import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Index, MetricKind, ScalarKind } from 'usearch';

/**
 * An in-memory nearest-neighbour index over the item vectors (issue 20): HNSW by USearch, on int8 vectors,
 * cosine. A process answers a page's vector searches from it in a fraction of a millisecond instead of a
 * pgvector HNSW query (about 6 ms of Postgres CPU each at 100,000 items); pgvector stays the store of
 * record and answers whatever this cannot (filtered searches, a process without the index).
 *
 * Keys are the dense indices of ItemVectors (src/recommender/model-snapshot.ts), so both share one id table.
 */

// Graph degree and build/search breadth. 16 and 64/64: about 12 s of build CPU for 100,000 vectors of 256
// dimensions here, and 0.3 ms a search of 100 with a recall of the true nearest above 0.99 on clustered data
// (test/recommender/item-vector-index.test.ts checks recall against an exact search).
const CONNECTIVITY = 16;
const EXPANSION_ADD = 64;
const EXPANSION_SEARCH = 64;

export interface VectorIndexInput {
  dimension: number;
  count: number;
  /** count × dimension int8 values: vector k is values[k·dimension, (k + 1)·dimension). */
  values: Int8Array;
}

function createIndex(dimension: number): Index {
  return new Index({
    dimensions: dimension,
    metric: MetricKind.Cos,
    quantization: ScalarKind.I8,
    connectivity: CONNECTIVITY,
    expansion_add: EXPANSION_ADD,
    expansion_search: EXPANSION_SEARCH,
    multi: false,
  });
}

/** Builds the index over every vector of `input` (keys 0 .. count − 1), on this thread. */
export function buildVectorIndex(input: VectorIndexInput, threads = 1): ItemVectorIndex {
  const index = createIndex(input.dimension);
  if (input.count > 0) {
    const keys = new BigUint64Array(input.count);
    for (let key = 0; key < input.count; key++) keys[key] = BigInt(key);
    index.add(keys, input.values.subarray(0, input.count * input.dimension), threads);
  }
  return new ItemVectorIndex(index, input.dimension);
}

export class ItemVectorIndex {
  readonly dimension: number;
  readonly #index: Index;

  constructor(index: Index, dimension: number) {
    this.#index = index;
    this.dimension = dimension;
  }

  static empty(dimension: number): ItemVectorIndex {
    return new ItemVectorIndex(createIndex(dimension), dimension);
  }

  /** Adds or replaces the vector of a key. */
  upsert(key: number, vector: Int8Array): void {
    const big = BigInt(key);
    if (this.#index.contains(big)) this.#index.remove(big);
    this.#index.add(big, vector);
  }

  /** The `k` nearest keys to `query` by cosine similarity, nearest first. */
  nearest(query: Float32Array, k: number): { key: number; similarity: number }[] {
    if (k <= 0 || this.size === 0 || query.length !== this.dimension) return [];
    const found = this.#index.search(query, Math.min(k, this.size), 1);
    const results: { key: number; similarity: number }[] = [];
    for (let at = 0; at < found.keys.length; at++)
      results.push({ key: Number(found.keys[at]!), similarity: 1 - found.distances[at]! });
    return results;
  }

  get size(): number {
    return this.#index.size();
  }

  /** About how much memory the graph takes besides the vectors (which ItemVectors counts). */
  get bytes(): number {
    return this.size * (this.dimension + CONNECTIVITY * 2 * 4 + 64);
  }

  save(path: string): void {
    this.#index.save(path);
  }

  static load(path: string, dimension: number): ItemVectorIndex {
    const index = createIndex(dimension);
    index.load(path);
    return new ItemVectorIndex(index, dimension);
  }
}

// From src the worker is a .ts file run by Node's type stripping; from dist it is the compiled .js.
const WORKER_URL = new URL(
  `./item-vector-index.worker${extname(fileURLToPath(import.meta.url))}`,
  import.meta.url,
);

/**
 * buildVectorIndex on a worker thread (seconds of CPU at 100,000 items that would otherwise stall every
 * request): the worker saves the graph to a temporary file that this thread loads (milliseconds). The
 * input's buffer is transferred (unusable here afterwards).
 */
export async function buildVectorIndexOffThread(input: VectorIndexInput): Promise<ItemVectorIndex> {
  const folder = await mkdtemp(join(tmpdir(), 'marquee-vector-index-'));
  const path = join(folder, 'index.usearch');
  try {
    await new Promise<void>((resolve, reject) => {
      const worker = new Worker(WORKER_URL, {
        workerData: { input, path },
        transferList: [input.values.buffer as ArrayBuffer],
      });
      worker.once('message', () => resolve());
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the vector index thread exited (code ${code})`)));
    });
    return ItemVectorIndex.load(path, input.dimension);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
