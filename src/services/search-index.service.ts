import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import { parseTsquery, TextIndex, type TextIndexMatch } from '../recommender/text-index.ts';
import {
  countSearchDocuments,
  findLatestSearchDocumentChange,
  findSearchDocumentsChangedSince,
  parseSearchQuery,
  streamSearchDocuments,
} from '../repositories/search.repository.ts';
// Documents written this long before the latest change seen are read again, as the model's rows are.
import { emptyStatus, LATE_COMMIT_MARGIN_MS, type PartStatus } from './model-snapshot.service.ts';

/** Changed documents held beside the index; beyond, the whole index is rebuilt (and SQL answers meanwhile). */
const MAX_CHANGED_DOCUMENTS = 10_000;
/** Queries whose parsed form (websearch_to_tsquery) is kept; beyond, the oldest goes. */
const PARSED_QUERIES = 10_000;
/** How long a catalog version spares a search the round trip that checks for changed documents. */
const FRESHNESS_CHECK_MS = 1_000;
/** Whole rebuilds at most this often (a bulk import changes documents faster than rebuilds are worth). */
const MIN_RELOAD_INTERVAL_MS = 60_000;

/**
 * The catalog's search documents held in this process as an inverted index (src/recommender/text-index.ts): a
 * cache of item_search_documents, loaded whole at start, caught up with the documents written since before
 * each search (the same round trip that parses the query), so every replica answers from the same documents.
 */
export interface SearchIndex {
  /**
   * The `limit` best items for a websearch-style query, best first; undefined when this process does not hold
   * the index (not loaded yet, beyond the memory cap, catching up after a bulk write) or the query needs what
   * only Postgres evaluates (phrases): the caller asks Postgres. With the catalog version the caller read
   * (which every replica bumps when an item's document changes), a query parsed before is answered without a
   * round trip while that version holds, for at most FRESHNESS_CHECK_MS (a bulk import bumps it at its end).
   */
  matches(text: string, limit: number, catalogVersion?: string): Promise<TextIndexMatch[] | undefined>;
  status(): PartStatus;
  /** Resolves once a load under way has ended. */
  settled(): Promise<void>;
  stop(): void;
}

export interface SearchIndexOptions {
  db: Kysely<Database>;
  /** Bytes the index may take (what MARQUEE_MODEL_MEMORY_MB leaves after the model); 0 keeps it in SQL. */
  memoryAvailableBytes: () => number;
  /** Loading starts once this resolves (the model's first load, which has the first claim on memory). */
  loadAfter?: Promise<unknown>;
  logger: { info(object: object, message: string): void; warn(object: object, message: string): void };
}

export function startSearchIndex(options: SearchIndexOptions): SearchIndex {
  const { db, logger } = options;
  let index: TextIndex | undefined;
  let seenChangedAt: Date | undefined;
  /** More documents changed than the index keeps beside it: SQL answers until the rebuild. */
  let behind = false;
  let lastLoadStarted = -Infinity;
  let loading: Promise<void> | undefined;
  let catchingUp: Promise<void> | undefined;
  let stopped = false;
  const status = emptyStatus('not loaded yet');
  const parsed = new Map<string, string>();
  /** The catalog version seen before the last check for changed documents, and when that check was. */
  let checked: { version: string; at: number } | undefined;

  async function load(): Promise<void> {
    const started = performance.now();
    lastLoadStarted = started;
    // Read before the documents: a document written during the load is read again by the next search.
    const documentsChangedAt = await findLatestSearchDocumentChange(db);
    const available = options.memoryAvailableBytes();
    const documents = await countSearchDocuments(db);
    const builder = TextIndex.builder();
    let added = 0;
    for await (const page of streamSearchDocuments(db)) {
      if (stopped) return;
      for (const row of page) builder.add(row.itemId, row.document);
      added += page.length;
      // The first page tells how big the whole index will be.
      const estimate = TextIndex.estimateBytes(documents, (builder.postings / added) * documents);
      if (estimate > available) {
        index = undefined;
        Object.assign(status, { held: false, items: 0, bytes: 0, reason: overCap(estimate, available) });
        return;
      }
      // Let requests run between pages.
      await new Promise((resolve) => setImmediate(resolve));
    }
    index = builder.finish();
    seenChangedAt = documentsChangedAt;
    behind = false;
    Object.assign(status, {
      held: true,
      items: index.size,
      bytes: index.bytes,
      loadedAt: new Date().toISOString(),
      lastLoadMs: Math.round(performance.now() - started),
      reason: null,
    });
    logger.info(
      { items: index.size, bytes: index.bytes, ms: status.lastLoadMs },
      'in-memory search index loaded',
    );
  }

  function startLoad(): void {
    if (loading || stopped || options.memoryAvailableBytes() <= 0) return;
    loading = load()
      .catch((error: unknown) => {
        if (!stopped) logger.warn({ err: error }, 'could not load the in-memory search index');
      })
      .finally(() => (loading = undefined));
  }

  async function catchUp(changedAt: Date): Promise<void> {
    const since = new Date((seenChangedAt?.getTime() ?? 0) - LATE_COMMIT_MARGIN_MS);
    const rows = await findSearchDocumentsChangedSince(db, since, MAX_CHANGED_DOCUMENTS + 1);
    if (!index) return;
    if (rows.length > MAX_CHANGED_DOCUMENTS || index.changedCount + rows.length > MAX_CHANGED_DOCUMENTS) {
      behind = true;
      status.reason = 'catching up with a bulk write of documents: searches run in SQL until the rebuild';
      return;
    }
    for (const row of rows) index.apply(row.itemId, row.document);
    seenChangedAt = changedAt;
    Object.assign(status, { items: index.size });
  }

  function remember(text: string, tsquery: string): void {
    if (parsed.size >= PARSED_QUERIES) parsed.delete(parsed.keys().next().value!);
    parsed.set(text, tsquery);
  }

  void Promise.resolve(options.loadAfter).finally(startLoad);

  return {
    async matches(text, limit, catalogVersion) {
      if (!index) {
        // A load that failed or did not fit (the database away at start-up, the model grown) is tried
        // again, at most once a minute, once the first has run.
        if (Number.isFinite(lastLoadStarted) && performance.now() - lastLoadStarted >= MIN_RELOAD_INTERVAL_MS)
          startLoad();
        return undefined;
      }
      const known = parsed.get(text);
      const fresh =
        catalogVersion !== undefined &&
        checked?.version === catalogVersion &&
        performance.now() - checked.at < FRESHNESS_CHECK_MS;
      let tsquery: string;
      if (known !== undefined && fresh && !behind) tsquery = known;
      else {
        const startedAt = performance.now();
        const found = await parseSearchQuery(db, text);
        tsquery = found.tsquery;
        remember(text, tsquery);
        if (behind) {
          if (performance.now() - lastLoadStarted >= MIN_RELOAD_INTERVAL_MS) startLoad();
          return undefined;
        }
        const { documentsChangedAt } = found;
        if (documentsChangedAt && documentsChangedAt.getTime() !== seenChangedAt?.getTime()) {
          catchingUp ??= catchUp(documentsChangedAt).finally(() => (catchingUp = undefined));
          await catchingUp;
          if (behind || !index) return undefined;
        }
        // Documents changed before this version was read are held now.
        if (catalogVersion !== undefined) checked = { version: catalogVersion, at: startedAt };
      }
      const query = parseTsquery(tsquery);
      // A query of stop words only matches nothing, as in SQL.
      if (tsquery.trim() === '') return [];
      return query ? index.search(query, limit) : undefined;
    },
    status: () => ({ ...status }),
    settled: () => loading ?? Promise.resolve(),
    stop() {
      stopped = true;
    },
  };
}

function overCap(bytes: number, available: number): string {
  return `it would take about ${Math.ceil(bytes / 1_048_576)} MB, beyond what MARQUEE_MODEL_MEMORY_MB leaves (${Math.floor(Math.max(0, available) / 1_048_576)} MB)`;
}
