import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import {
  decodeRankingArtifact,
  type RankingArtifact,
  rankingCatalogBytes,
} from '../recommender/ranking/ranking-artifact.ts';
import { type RankingModel, sameFeatures } from '../recommender/ranking/ranker-training.ts';
import { findServingRanker } from '../repositories/ranker-models.repository.ts';
import {
  buildVectorIndex,
  buildVectorIndexOffThread,
  type ItemVectorIndex,
} from '../recommender/item-vector-index.ts';
import {
  BYTES_PER_ITEM,
  BYTES_PER_NEIGHBOUR,
  ItemVectors,
  NeighbourLists,
} from '../recommender/model-snapshot.ts';
import {
  countModelSnapshotRows,
  findItemVectors,
  findItemVectorsChangedSince,
  findModelSnapshotVersions,
  findNeighbourListsChangedSince,
  type ItemVectorRow,
  type ModelSnapshotVersions,
  streamItemVectors,
  streamNeighbourLists,
} from '../repositories/model-snapshot.repository.ts';

/** How often a process asks whether its copy is stale (one cheap query). */
const POLL_MS = 1_000;
/**
 * Rows written this long before the latest change seen are read again: a transaction's rows carry the time
 * it wrote them, and it may commit later than a poll that already saw a newer row.
 */
export const LATE_COMMIT_MARGIN_MS = 60_000;
/** Changed rows applied one by one up to this many; beyond, the whole part is reloaded. */
const MAX_CHANGED_ROWS = 10_000;
/**
 * Whole reloads of the vectors (and their index build) at most this often: during a bulk import every poll
 * sees more than MAX_CHANGED_ROWS new vectors, and reloading each second would keep a serving process busy.
 * Meanwhile up to MAX_CHANGED_ROWS changes a poll are applied (the rest with the next whole reload), and
 * pages read a vector they miss from the database.
 */
const MIN_VECTOR_RELOAD_INTERVAL_MS = 5 * 60_000;
/** Vector indexes of more items are built on a worker thread (about 0.1 ms of CPU per item). */
const BUILD_OFF_THREAD_FROM = 1_000;
/**
 * The most neighbours one in-memory vector search looks at: the page's `limit` plus the items it excludes
 * (a heavy user's consumed items) up to this; beyond, fewer than `limit` may survive the exclusions.
 */
const MAX_SEARCH_BREADTH = 1_000;

export interface ModelSnapshotStatus {
  neighbourLists: PartStatus;
  itemVectors: PartStatus;
  vectorIndex: PartStatus;
  ranker: PartStatus;
}

/** The learned ranker in service, as a process holds it. */
export interface LoadedRanker {
  id: string;
  trainedAt: Date;
  model: RankingModel;
  /** The catalog it ranks with, and each of its items' dense index. */
  artifact: RankingArtifact;
  itemIndex: ReadonlyMap<string, number>;
}

/** What a process holds of one part of the model (and of the search index). */
export interface PartStatus {
  /** In memory, or read from the database at each page (not loaded yet, or beyond the memory cap). */
  held: boolean;
  items: number;
  bytes: number;
  loadedAt: string | null;
  lastLoadMs: number | null;
  /** Why it is not held, when it is not. */
  reason: string | null;
}

/**
 * The model as this process holds it in memory: a cache of what the database holds, reloaded when a training
 * or an edit (erasure) or a new vector changes it, so every replica converges on the same state within about
 * a second (a whole reload takes longer: see docs/BENCHMARKS.md). Pages read it synchronously; while a part
 * is not held, they read the database instead.
 */
export interface ModelSnapshot {
  /** The neighbour lists, undefined while they are read from the database. */
  readonly neighbourLists: NeighbourLists | undefined;
  /** The learned ranker in service, undefined before one serves (pages are then blended). */
  readonly ranker: LoadedRanker | undefined;
  /** The vectors of these items (those it does not hold are read and kept); absent when an item has none. */
  vectorsOf(itemIds: readonly string[]): Promise<Map<string, Float32Array>>;
  /** The vector of an item this process holds in memory (no database read); undefined otherwise. */
  heldVector(itemId: string): Float32Array | undefined;
  /**
   * Every item's vector is held (kept in step with the database within a poll): an item heldVector does not
   * know has none yet. False while they are read from the database.
   */
  readonly holdsVectors: boolean;
  /** The dot product of an item's held vector with `vector` (no decoding, no database read); undefined without one. */
  heldDot(itemId: string, vector: ArrayLike<number>): number | undefined;
  /**
   * The cosine similarity of `vector` to each item's held vector (undefined for an item without one), with no
   * database read; undefined when this process holds no vectors (ask pgvector).
   */
  similarities(vector: Float32Array, itemIds: readonly string[]): (number | undefined)[] | undefined;
  /**
   * The items nearest to `vector` by cosine similarity, nearest first, none of `excludeIds`; undefined while
   * the vector index is not in memory (ask pgvector). Unfiltered: the caller checks its filters after.
   */
  nearest(
    vector: Float32Array,
    query: { limit: number; excludeIds: readonly string[] },
  ): { itemId: string; similarity: number }[] | undefined;
  /**
   * The bytes of MARQUEE_MODEL_MEMORY_MB the held parts take, the vector index counted from the moment its
   * vectors were admitted (it takes seconds to minutes to build): what the catalog and the search index,
   * which load after, may not use.
   */
  heldBytes(): number;
  /** Resolves once a vector index build under way (if any) has ended. */
  settled(): Promise<void>;
  /** Checks the versions and reloads what changed, now (the poll does this every second). */
  refresh(): Promise<void>;
  status(): ModelSnapshotStatus;
  stop(): void;
}

export interface ModelSnapshotOptions {
  db: Kysely<Database>;
  /** The most the lists and vectors may take, in bytes; 0 keeps nothing in memory. */
  memoryLimitBytes: number;
  logger: { info(object: object, message: string): void; warn(object: object, message: string): void };
  /** Poll every second (false in tests that call refresh themselves). */
  poll?: boolean;
  /**
   * Called after the neighbour lists changed here: pages cached from the old ones must go (each replica calls
   * it once it has the new lists, so a page cached by one still holding the old ones goes too).
   */
  onNeighboursChanged?: () => Promise<void> | void;
}

export function startModelSnapshot(options: ModelSnapshotOptions): ModelSnapshot {
  const { db, logger, memoryLimitBytes } = options;
  let lists: NeighbourLists | undefined;
  let ranker: LoadedRanker | undefined;
  let vectors: ItemVectors | undefined;
  /** The vector index and the vectors whose keys it holds (the previous ones serve while a reload builds). */
  let index: { graph: ItemVectorIndex; of: ItemVectors } | undefined;
  /** The build under way, and the keys whose vectors changed since its input was copied. */
  let building: { promise: Promise<void>; changed: Set<number> } | undefined;
  const seen: Partial<ModelSnapshotVersions> & {
    vectorsLoaded?: boolean;
    /** When the vectors were last loaded whole (performance.now()). */
    vectorsLoadedAt?: number;
    /** Changes were applied only in part since: a whole reload is due once the interval allows it. */
    vectorsBehind?: boolean;
  } = {};
  const listsStatus = emptyStatus(memoryLimitBytes > 0 ? 'not loaded yet' : 'MARQUEE_MODEL_MEMORY_MB is 0');
  const vectorsStatus = emptyStatus(listsStatus.reason);
  const indexStatus = emptyStatus(listsStatus.reason);
  const rankerStatus = emptyStatus(listsStatus.reason);
  let stopped = false;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  /** The estimate the held vectors were admitted with: their index counts from then on, built or not. */
  let vectorsReserved = 0;
  /** What the vectors and their index take, or will once the index is built. */
  const vectorsBytes = () =>
    vectors ? Math.max(vectorsStatus.bytes + indexStatus.bytes, vectorsReserved) : 0;

  const budget = async () => {
    const counts = await countModelSnapshotRows(db);
    return {
      lists: counts.lists * (BYTES_PER_ITEM + 8) + counts.neighbours * BYTES_PER_NEIGHBOUR,
      // int8 vectors, their ids, and the index's graph (its own copy of each vector, 16 × 2 links).
      vectors: (dimension: number) => counts.vectors * (2 * dimension + 4 + BYTES_PER_ITEM + 192),
    };
  };

  async function loadLists(versions: ModelSnapshotVersions): Promise<void> {
    const started = performance.now();
    const estimate = (await budget()).lists;
    if (estimate > memoryLimitBytes) {
      lists = undefined;
      Object.assign(listsStatus, { held: false, items: 0, bytes: 0, reason: overCap(estimate) });
    } else {
      const builder = NeighbourLists.builder();
      for await (const page of streamNeighbourLists(db)) {
        if (stopped) return;
        for (const row of page) builder.add(row);
      }
      lists = builder.finish();
      markLoaded(listsStatus, lists.size, lists.bytes, started);
    }
    const first = !('trainedAt' in seen);
    seen.trainedAt = versions.trainedAt;
    seen.neighboursChangedAt = versions.neighboursChangedAt;
    // Pages cached before the first load were made from the same lists, in the database.
    if (!first) await options.onNeighboursChanged?.();
  }

  async function loadRanker(versions: ModelSnapshotVersions): Promise<void> {
    const started = performance.now();
    const first = !('rankerId' in seen);
    seen.rankerId = versions.rankerId;
    const stored = versions.rankerId === undefined ? undefined : await findServingRanker(db);
    if (!stored) {
      ranker = undefined;
      Object.assign(rankerStatus, {
        held: false,
        items: 0,
        bytes: 0,
        reason: 'no learned ranker serves yet',
      });
    } else {
      const model = stored.model as RankingModel | null;
      if (!model?.trees || !sameFeatures(model.features)) {
        ranker = undefined;
        Object.assign(rankerStatus, {
          held: false,
          reason:
            'the ranker in service has other features than this version computes: it waits for a training',
        });
      } else {
        const artifact = decodeRankingArtifact(stored.catalog);
        const bytes = rankingCatalogBytes(artifact.catalog);
        const remaining = memoryLimitBytes - (lists?.bytes ?? 0) - vectorsBytes();
        if (bytes > remaining) {
          ranker = undefined;
          Object.assign(rankerStatus, { held: false, items: 0, bytes: 0, reason: overCap(bytes) });
        } else {
          ranker = {
            id: stored.id,
            trainedAt: stored.trainedAt,
            model,
            artifact,
            itemIndex: new Map(artifact.itemIds.map((itemId, at) => [itemId, at])),
          };
          markLoaded(rankerStatus, artifact.itemIds.length, bytes, started);
        }
      }
    }
    if (!first) await options.onNeighboursChanged?.();
  }

  async function loadVectors(versions: ModelSnapshotVersions): Promise<void> {
    const started = performance.now();
    const estimate = (await budget()).vectors;
    // What the lists and the ranker (which load first) leave.
    const remaining = memoryLimitBytes - (lists?.bytes ?? 0) - (ranker ? rankerStatus.bytes : 0);
    let loaded: ItemVectors | undefined;
    let refused: string | undefined;
    for await (const page of streamItemVectors(db)) {
      if (stopped) return;
      for (const row of page) {
        if (!loaded) {
          const needed = estimate(row.vector.length);
          if (needed > remaining) {
            refused = overCap(needed);
            break;
          }
          loaded = new ItemVectors(row.vector.length);
          vectorsReserved = needed;
        }
        loaded.set(row.itemId, row.vector);
      }
      if (refused) break;
    }
    vectors = refused ? undefined : (loaded ?? new ItemVectors(0));
    if (!loaded) vectorsReserved = 0;
    if (refused) {
      index = undefined;
      Object.assign(vectorsStatus, { held: false, items: 0, bytes: 0, reason: refused });
      Object.assign(indexStatus, { held: false, items: 0, bytes: 0, reason: refused });
    } else {
      markLoaded(vectorsStatus, vectors!.size, vectors!.bytes, started);
      if (vectors!.size > 0) startIndexBuild(vectors!);
    }
    seen.vectorsLoaded = true;
    seen.vectorsLoadedAt = performance.now();
    seen.vectorsBehind = false;
    seen.embeddingSpace = versions.embeddingSpace;
    seen.vectorsChangedAt = versions.vectorsChangedAt;
  }

  async function refreshOnce(): Promise<void> {
    if (memoryLimitBytes <= 0 || stopped) return;
    const versions = await findModelSnapshotVersions(db);
    if (!('trainedAt' in seen)) await loadLists(versions);
    else if (versions.trainedAt !== seen.trainedAt) await loadLists(versions);
    else if (isLater(versions.neighboursChangedAt, seen.neighboursChangedAt)) {
      const rows = await findNeighbourListsChangedSince(
        db,
        since(seen.neighboursChangedAt),
        MAX_CHANGED_ROWS + 1,
      );
      if (rows.length > MAX_CHANGED_ROWS || !lists) await loadLists(versions);
      else {
        lists = lists.withEdits(rows);
        seen.neighboursChangedAt = versions.neighboursChangedAt;
        Object.assign(listsStatus, { bytes: lists.bytes });
        await options.onNeighboursChanged?.();
      }
    }
    if (stopped) return;
    if (!('rankerId' in seen) || versions.rankerId !== seen.rankerId) await loadRanker(versions);
    if (stopped) return;
    const reloadAllowed = performance.now() - (seen.vectorsLoadedAt ?? 0) >= MIN_VECTOR_RELOAD_INTERVAL_MS;
    if (!seen.vectorsLoaded || versions.embeddingSpace !== seen.embeddingSpace || !vectors)
      await loadVectors(versions);
    else if (seen.vectorsBehind && reloadAllowed) await loadVectors(versions);
    else if (isLater(versions.vectorsChangedAt, seen.vectorsChangedAt)) {
      const rows = await findItemVectorsChangedSince(db, since(seen.vectorsChangedAt), MAX_CHANGED_ROWS + 1);
      if (rows.length > MAX_CHANGED_ROWS && reloadAllowed) await loadVectors(versions);
      else {
        keep(rows.slice(0, MAX_CHANGED_ROWS));
        if (rows.length > MAX_CHANGED_ROWS) seen.vectorsBehind = true;
        seen.vectorsChangedAt = versions.vectorsChangedAt;
      }
    }
  }

  /** Stores vectors read from the database; a vector of another dimension (a new space) waits for the reload. */
  function keep(rows: readonly ItemVectorRow[]): void {
    if (!vectors) return;
    if (vectors.dimension === 0 && rows.length > 0) {
      vectors = new ItemVectors(rows[0]!.vector.length);
      building = undefined;
    }
    for (const row of rows) {
      const key = vectors.set(row.itemId, row.vector);
      if (key === undefined) continue;
      building?.changed.add(key);
      if (index?.of === vectors) index.graph.upsert(key, vectors.quantized(row.itemId)!);
    }
    if (index?.of !== vectors && !building && vectors.size > 0) startIndexBuild(vectors);
    Object.assign(vectorsStatus, { items: vectors.size, bytes: vectors.bytes });
    if (index) Object.assign(indexStatus, { items: index.graph.size, bytes: index.graph.bytes });
  }

  /**
   * Builds the vector index over `from` (on a thread for a large catalog), then applies the vectors that
   * changed meanwhile; a build overtaken by a reload of the vectors is dropped.
   */
  function startIndexBuild(from: ItemVectors): void {
    const started = performance.now();
    const raw = from.raw();
    const changed = new Set<number>();
    const built =
      raw.count < BUILD_OFF_THREAD_FROM
        ? Promise.resolve(buildVectorIndex(raw))
        : buildVectorIndexOffThread({ ...raw, values: raw.values.slice() });
    const promise = built.then(
      (fresh) => {
        if (stopped || vectors !== from || building?.promise !== promise) return;
        for (const key of changed) {
          const itemId = from.itemId(key);
          if (itemId !== undefined) fresh.upsert(key, from.quantized(itemId)!);
        }
        index = { graph: fresh, of: from };
        building = undefined;
        markLoaded(indexStatus, fresh.size, fresh.bytes, started);
      },
      (error: unknown) => {
        if (building?.promise === promise) building = undefined;
        if (!stopped) logger.warn({ err: error }, 'could not build the in-memory vector index');
      },
    );
    building = { promise, changed };
  }

  let queued: Promise<void> | undefined;
  /** One refresh at a time; asked during one, another follows it (it may have read the versions before). */
  const refresh = (): Promise<void> => {
    if (running) {
      queued ??= running.then(() => {
        queued = undefined;
        return refresh();
      });
      return queued;
    }
    running = refreshOnce()
      .catch((error: unknown) => {
        if (!stopped) logger.warn({ err: error }, 'could not refresh the in-memory model');
      })
      .finally(() => (running = undefined));
    return running;
  };

  const schedule = () => {
    if (stopped || options.poll === false) return;
    timer = setTimeout(() => void refresh().finally(schedule), POLL_MS);
    timer.unref();
  };
  void refresh().finally(schedule);

  return {
    get neighbourLists() {
      return lists;
    },
    get ranker() {
      return ranker;
    },
    async vectorsOf(itemIds) {
      const found = new Map<string, Float32Array>();
      const missing: string[] = [];
      for (const itemId of new Set(itemIds)) {
        const vector = vectors?.get(itemId);
        if (vector) found.set(itemId, vector);
        else missing.push(itemId);
      }
      if (missing.length > 0) {
        const rows = await findItemVectors(db, missing);
        for (const row of rows) found.set(row.itemId, Float32Array.from(row.vector));
        keep(rows);
      }
      return found;
    },
    heldVector(itemId) {
      return vectors?.get(itemId);
    },
    heldDot(itemId, vector) {
      return vectors?.dot(itemId, vector);
    },
    get holdsVectors() {
      return vectors !== undefined && vectors.dimension > 0;
    },
    similarities(vector, itemIds) {
      if (!vectors || vectors.dimension !== vector.length) return undefined;
      let squares = 0;
      for (const value of vector) squares += value * value;
      const norm = Math.sqrt(squares);
      const held = vectors;
      return itemIds.map((itemId) => held.cosine(itemId, vector, norm));
    },
    nearest(vector, query) {
      if (!index || index.graph.dimension !== vector.length) return undefined;
      if (query.limit <= 0) return [];
      const excluded = new Set(query.excludeIds);
      const maxBreadth = Math.min(query.limit + excluded.size, Math.max(query.limit, MAX_SEARCH_BREADTH));
      // Narrow first: most searches find the page's limit among a few more neighbours than it; only when the
      // exclusions took too many is the search widened (the cost of a search grows with its breadth).
      let breadth = Math.min(maxBreadth, query.limit + Math.min(excluded.size, query.limit));
      for (;;) {
        const found: { itemId: string; similarity: number }[] = [];
        const neighbours = index.graph.nearest(vector, breadth);
        for (const { key, similarity } of neighbours) {
          const itemId = index.of.itemId(key);
          if (itemId === undefined || excluded.has(itemId)) continue;
          found.push({ itemId, similarity });
          if (found.length === query.limit) break;
        }
        if (found.length === query.limit || breadth >= maxBreadth || neighbours.length < breadth)
          return found;
        breadth = Math.min(maxBreadth, breadth * 4);
      }
    },
    heldBytes() {
      return (lists ? listsStatus.bytes : 0) + (ranker ? rankerStatus.bytes : 0) + vectorsBytes();
    },
    async settled() {
      while (building) await building.promise;
    },
    refresh,
    status: () => ({
      neighbourLists: { ...listsStatus },
      itemVectors: { ...vectorsStatus },
      vectorIndex: { ...indexStatus },
      ranker: { ...rankerStatus },
    }),
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };

  function markLoaded(status: PartStatus, items: number, bytes: number, started: number): void {
    Object.assign(status, {
      held: true,
      items,
      bytes,
      loadedAt: new Date().toISOString(),
      lastLoadMs: Math.round(performance.now() - started),
      reason: null,
    });
    logger.info({ items, bytes, ms: status.lastLoadMs }, 'in-memory model loaded');
  }

  function overCap(bytes: number): string {
    return `it would take about ${Math.ceil(bytes / 1_048_576)} MB, beyond MARQUEE_MODEL_MEMORY_MB (${Math.floor(memoryLimitBytes / 1_048_576)})`;
  }
}

export function emptyStatus(reason: string | null): PartStatus {
  return { held: false, items: 0, bytes: 0, loadedAt: null, lastLoadMs: null, reason };
}

function isLater(latest: Date | undefined, seen: Date | undefined): boolean {
  return latest !== undefined && (seen === undefined || latest.getTime() !== seen.getTime());
}

function since(seen: Date | undefined): Date {
  return new Date((seen?.getTime() ?? 0) - LATE_COMMIT_MARGIN_MS);
}
