/**
 * What a page needs to know of an item to check and describe a candidate (title, genres, series, release year,
 * availability window, when it was added, editorial boost), for every item of the catalog: held in each
 * process (src/services/item-catalog.service.ts) so that an unfiltered page checks its few hundred candidates
 * without a query. Pure: the service fills it from the database.
 */
export interface CatalogEntry {
  readonly itemId: string;
  readonly title: string;
  readonly genres: readonly string[];
  readonly seriesId: string | null;
  readonly releaseYear: number | null;
  /** Epoch ms; null: no bound. */
  readonly availableFrom: number | null;
  readonly availableUntil: number | null;
  /** Epoch ms. */
  readonly createdAt: number;
  /** A positive editorial boost (attributes.boost), else 0. */
  readonly boost: number;
}

/** Bytes an entry costs besides its strings (object, map entry, array slot): an estimate for the memory cap. */
const BYTES_PER_ENTRY = 160;

export class ItemCatalog {
  readonly #entries = new Map<string, CatalogEntry>();
  /** Genre lists are few distinct ones shared by many items: one frozen array each. */
  readonly #genreLists = new Map<string, readonly string[]>();
  #boosted: { itemId: string; boost: number }[] | undefined;
  /** The last releasedSince answer, until an entry changes. */
  #released: { since: number; entries: readonly CatalogEntry[] } | undefined;
  #stringBytes = 0;

  /** Adds or replaces an item's entry. */
  set(entry: CatalogEntry): void {
    const key = entry.genres.join('\u0000');
    let genres = this.#genreLists.get(key);
    if (!genres) {
      genres = Object.freeze([...entry.genres]);
      this.#genreLists.set(key, genres);
    }
    const previous = this.#entries.get(entry.itemId);
    if (previous) this.#stringBytes -= stringBytes(previous);
    const held = { ...entry, genres };
    this.#entries.set(entry.itemId, held);
    this.#stringBytes += stringBytes(held);
    if (previous?.boost || entry.boost) this.#boosted = undefined;
    // Only a change among the releases listed moves the list (a catalog's back list changes it never).
    const since = this.#released?.since;
    if (
      since !== undefined &&
      ((previous?.releaseYear ?? -Infinity) >= since || (entry.releaseYear ?? -Infinity) >= since)
    )
      this.#released = undefined;
  }

  get(itemId: string): CatalogEntry | undefined {
    return this.#entries.get(itemId);
  }

  /** The boosted items, highest boost first (then by id). */
  boosted(): readonly { itemId: string; boost: number }[] {
    this.#boosted ??= [...this.#entries.values()]
      .filter((entry) => entry.boost > 0)
      .map((entry) => ({ itemId: entry.itemId, boost: entry.boost }))
      .sort((a, b) => b.boost - a.boost || (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0));
    return this.#boosted;
  }

  /**
   * The items released in `year` or later (available or not), newest release first, then most recently added,
   * then by id: the order of the SQL fresh source without a taste to rank by.
   */
  releasedSince(year: number): readonly CatalogEntry[] {
    if (this.#released?.since !== year) {
      const entries = [...this.#entries.values()]
        .filter((entry) => entry.releaseYear !== null && entry.releaseYear >= year)
        .sort(
          (a, b) =>
            b.releaseYear! - a.releaseYear! ||
            b.createdAt - a.createdAt ||
            (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0),
        );
      this.#released = { since: year, entries };
    }
    return this.#released.entries;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#entries.size * BYTES_PER_ENTRY + this.#stringBytes;
  }

  /** An estimate of what `items` entries take, from the first few (for the memory cap, before loading them all). */
  static estimateBytes(items: number, sample: readonly CatalogEntry[]): number {
    if (sample.length === 0) return 0;
    const perEntry = sample.reduce((sum, entry) => sum + stringBytes(entry), 0) / sample.length;
    return Math.ceil(items * (BYTES_PER_ENTRY + perEntry));
  }
}

/** Inside its availability window at `now` (epoch ms), as the SQL filter `availableNow` checks it. */
export function availableAt(entry: CatalogEntry, now: number): boolean {
  return (
    (entry.availableFrom === null || entry.availableFrom <= now) &&
    (entry.availableUntil === null || entry.availableUntil > now)
  );
}

function stringBytes(entry: CatalogEntry): number {
  return 2 * (entry.itemId.length + entry.title.length + (entry.seriesId?.length ?? 0)) + 32;
}
