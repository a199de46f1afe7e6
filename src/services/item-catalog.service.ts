import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import { type CatalogEntry, ItemCatalog } from '../recommender/item-catalog.ts';
import {
  type CatalogEntryRow,
  findCatalogChangesSince,
  findCatalogState,
  streamCatalogEntries,
} from '../repositories/item-catalog.repository.ts';
import { emptyStatus, LATE_COMMIT_MARGIN_MS, type PartStatus } from './model-snapshot.service.ts';

/** Changed items applied one by one up to this many; beyond, the whole catalog is read again. */
const MAX_CHANGED_ITEMS = 10_000;
/**
 * A catalog version is trusted this long: then the catalog catches up even if it has not moved (a bulk import
 * bumps it only at its end; with Redis away the version never moves).
 */
const VERSION_TRUSTED_MS = 5_000;
/** Whole reloads at most this often (meanwhile pages check their candidates in SQL). */
const MIN_RELOAD_INTERVAL_MS = 10_000;

/** The catalog as a page reads it. */
export interface HeldCatalog {
  get(itemId: string): CatalogEntry | undefined;
  /** The boosted items, highest boost first. */
  boosted(): readonly { itemId: string; boost: number }[];
  /** The items released in `year` or later, newest first (ItemCatalog.releasedSince). */
  releasedSince(year: number): readonly CatalogEntry[];
  /** When the last training ended (epoch ms): items added after it are new to the models. */
  readonly trainedAt: number | undefined;
}

/**
 * Every item's catalog entry (src/recommender/item-catalog.ts) held in this process: a cache of the items
 * table, loaded whole at start and brought up to date whenever the catalog version a page reads (bumped by
 * every replica before a catalog write answers) differs from the one it was last brought to, so every replica
 * checks candidates against the same catalog. An item deleted since (the count differs) or a bulk write of
 * more than MAX_CHANGED_ITEMS makes it read the catalog again; meanwhile, and beyond the memory cap, pages
 * check their candidates in SQL.
 */
export interface ItemCatalogService {
  /** The catalog as of this catalog version, caught up first if it changed; undefined while not held. */
  at(version: string): Promise<HeldCatalog | undefined>;
  status(): PartStatus;
  /** Resolves once a load under way has ended. */
  settled(): Promise<void>;
  stop(): void;
}

export interface ItemCatalogOptions {
  db: Kysely<Database>;
  /** Bytes the catalog may take (what MARQUEE_MODEL_MEMORY_MB leaves after the model); 0 keeps it in SQL. */
  memoryAvailableBytes: () => number;
  /** Loading starts once this resolves (the model's first load, which has the first claim on memory). */
  loadAfter?: Promise<unknown>;
  logger: { info(object: object, message: string): void; warn(object: object, message: string): void };
  /** Whole reloads at most this often (default MIN_RELOAD_INTERVAL_MS). */
  minReloadIntervalMs?: number;
  /** How long a catalog version is trusted (default VERSION_TRUSTED_MS). */
  versionTrustedMs?: number;
}

export function startItemCatalog(options: ItemCatalogOptions): ItemCatalogService {
  const {
    db,
    logger,
    minReloadIntervalMs = MIN_RELOAD_INTERVAL_MS,
    versionTrustedMs = VERSION_TRUSTED_MS,
  } = options;
  let catalog: ItemCatalog | undefined;
  let trainedAt: number | undefined;
  /** When (database clock) the catalog was last read or caught up. */
  let seenReadAt: Date | undefined;
  let seenVersion: string | undefined;
  /** When (performance.now()) the catalog last caught up. */
  let caughtUpAt = -Infinity;
  /** Items were deleted or too many changed: SQL answers until the next whole load. */
  let stale = false;
  let lastLoadStarted = -Infinity;
  let loading: Promise<void> | undefined;
  let catchingUp: Promise<void> | undefined;
  let stopped = false;
  let reloadTimer: NodeJS.Timeout | undefined;
  const status = emptyStatus('not loaded yet');

  async function load(): Promise<void> {
    const started = performance.now();
    lastLoadStarted = started;
    // Read before the items: an item written during the load is read again by the next catch-up.
    const state = await findCatalogState(db);
    const available = options.memoryAvailableBytes();
    const loaded = new ItemCatalog();
    for await (const page of streamCatalogEntries(db)) {
      if (stopped) return;
      const entries = page.map(entryOf);
      for (const entry of entries) loaded.set(entry);
      // The first page tells how big the whole catalog will be.
      const estimate = ItemCatalog.estimateBytes(Math.max(state.items, loaded.size), entries);
      if (estimate > available) {
        catalog = undefined;
        Object.assign(status, { held: false, items: 0, bytes: 0, reason: overCap(estimate, available) });
        return;
      }
      // Let requests run between pages.
      await new Promise((resolve) => setImmediate(resolve));
    }
    catalog = loaded;
    trainedAt = state.trainedAt?.getTime();
    seenReadAt = state.readAt;
    // The next page's version brings it up to date with what was written during the load.
    seenVersion = undefined;
    stale = false;
    Object.assign(status, {
      held: true,
      items: loaded.size,
      bytes: loaded.bytes,
      loadedAt: new Date().toISOString(),
      lastLoadMs: Math.round(performance.now() - started),
      reason: null,
    });
    logger.info({ items: loaded.size, bytes: loaded.bytes, ms: status.lastLoadMs }, 'item catalog loaded');
  }

  function startLoad(): void {
    if (loading || stopped || options.memoryAvailableBytes() <= 0) return;
    loading = load()
      .catch((error: unknown) => {
        if (!stopped) logger.warn({ err: error }, 'could not load the item catalog');
      })
      .finally(() => (loading = undefined));
  }

  async function catchUp(version: string): Promise<void> {
    // Items written since the last read, and those of transactions under way then, which may have committed
    // since (a row carries the time its transaction started).
    const { state, rows } = await findCatalogChangesSince(
      db,
      new Date((seenReadAt?.getTime() ?? 0) - LATE_COMMIT_MARGIN_MS),
      MAX_CHANGED_ITEMS + 1,
    );
    const held = catalog;
    if (!held) return;
    if (rows.length > MAX_CHANGED_ITEMS) return goStale('catching up with a bulk write of items');
    for (const row of rows) held.set(entryOf(row));
    // Items are only added or changed here: a different count means some were deleted.
    if (held.size !== state.items) return goStale('catching up with deleted items');
    trainedAt = state.trainedAt?.getTime();
    seenReadAt = state.readAt;
    seenVersion = version;
    caughtUpAt = performance.now();
    Object.assign(status, { items: held.size, bytes: held.bytes });
  }

  /** SQL checks the candidates until the catalog is read again: now, or once the last load is old enough. */
  function goStale(why: string): void {
    stale = true;
    status.reason = `${why}: pages check their candidates in SQL until the catalog is read again`;
    if (reloadTimer || stopped) return;
    const wait = Math.max(0, lastLoadStarted + minReloadIntervalMs - performance.now());
    reloadTimer = setTimeout(() => {
      reloadTimer = undefined;
      startLoad();
    }, wait);
    reloadTimer.unref();
  }

  const firstLoadStarted = Promise.resolve(options.loadAfter)
    .catch(() => undefined)
    .then(startLoad);

  const view = (held: ItemCatalog): HeldCatalog => ({
    get: (itemId) => held.get(itemId),
    boosted: () => held.boosted(),
    releasedSince: (year) => held.releasedSince(year),
    trainedAt,
  });

  return {
    async at(version) {
      if (!catalog || stale) {
        // A load that failed, did not fit, or fell behind is tried again, at most every MIN_RELOAD_INTERVAL_MS.
        if (Number.isFinite(lastLoadStarted) && performance.now() - lastLoadStarted >= minReloadIntervalMs)
          startLoad();
        return undefined;
      }
      // A version newer than the one being caught up with waits for that catch-up, then makes its own.
      if (performance.now() - caughtUpAt > versionTrustedMs) seenVersion = undefined;
      for (let round = 0; seenVersion !== version && round < 2; round++) {
        catchingUp ??= catchUp(version).finally(() => (catchingUp = undefined));
        await catchingUp;
        if (!catalog || stale) return undefined;
      }
      return seenVersion === version ? view(catalog) : undefined;
    },
    status: () => ({ ...status }),
    settled: async () => {
      await firstLoadStarted;
      await loading;
    },
    stop() {
      stopped = true;
      clearTimeout(reloadTimer);
    },
  };
}

function entryOf(row: CatalogEntryRow): CatalogEntry {
  return {
    itemId: row.id,
    title: row.title,
    genres: row.genres,
    seriesId: row.series_id,
    releaseYear: row.release_year,
    availableFrom: row.available_from?.getTime() ?? null,
    availableUntil: row.available_until?.getTime() ?? null,
    createdAt: row.created_at.getTime(),
    boost: row.boost !== null && row.boost > 0 ? row.boost : 0,
  };
}

function overCap(bytes: number, available: number): string {
  return `it would take about ${Math.ceil(bytes / 1_048_576)} MB, beyond what MARQUEE_MODEL_MEMORY_MB leaves (${Math.floor(Math.max(0, available) / 1_048_576)} MB)`;
}
