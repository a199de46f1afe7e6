import type { Kysely } from 'kysely';
import type { EmbeddableField } from '../config.ts';
import type { Database } from '../db/database.ts';
import {
  describeEmbeddingSpace,
  type EmbeddingSpace,
  ensureEmbeddingSpace,
  readEmbeddingSpace,
  sameEmbeddingSpace,
} from '../db/embedding-space.ts';
import { storeItemEmbeddings } from '../repositories/item-embeddings.repository.ts';
import {
  deleteMetaValue,
  EMBEDDING_SPACE_KEY,
  embeddingColumnDimension,
  NEXT_EMBEDDING_SPACE_KEY,
  setMetaValue,
} from '../repositories/meta.repository.ts';
import {
  buildStagedEmbeddingIndex,
  countStagedItems,
  findItemsToStage,
  holdItemWrites,
  isLockConflict,
  resetStagingTable,
  swapStagedEmbeddings,
} from '../repositories/staged-embeddings.repository.ts';
import type { Embedder } from './embedder.ts';
import { embeddableFromRow, itemEmbeddingText } from './item-text.ts';

// Moving a catalog to another embedder while the API keeps serving with the old one:
//
// 1. The target space is recorded under NEXT_EMBEDDING_SPACE_KEY and item_embeddings_next is sized for it.
// 2. One pass over the items (in id order) embeds every item whose staged vector is missing or was made from
//    other text. An item's text hash does not depend on the embedder (see item-text.ts), so the API and this
//    run agree on which text is current: a staged row is current when its hash is its item's. A stopped run
//    resumes by the same rule, skipping what is already staged.
// 3. The HNSW index is built on the staging table, outside any lock.
// 4. A catch-up pass embeds what the API changed meanwhile; then one transaction holds item writes, embeds
//    the few changes since, swaps the tables by renaming them and records the new space.
//
// API processes still on the old embedder keep reading (the new vectors, after the swap) and writing items;
// their embeddings are refused from then on (storeItemEmbeddings checks the space), so the items they write
// stay pending until a process with the new configuration embeds them.

// Items per embedder call and per insert: large enough to amortise a hosted embedder's round trip, small
// enough that an interrupted run loses little work.
const DEFAULT_CHUNK_SIZE = 256;
// The swap embeds what changed since the catch-up pass while item writes wait; with more than this many to do,
// it lets go, catches up again and retries, so that writes never wait for more than about one chunk.
const MAX_ITEMS_TO_EMBED_WHILE_HOLDING_WRITES = 256;
// After this many attempts the swap embeds whatever is left while holding writes: the catalog changes faster
// than catch-up passes converge, and the operator asked for the move now.
const SWAP_ATTEMPTS = 5;
// How long the swap waits for the locks it needs before giving up and retrying; waiting longer would queue
// every API query on those tables behind it.
const SWAP_LOCK_TIMEOUT = '5s';

/** A different reembed is unfinished on this database, and --restart was not given. */
export class ReembedInProgressError extends Error {
  readonly inProgress: EmbeddingSpace;
  readonly wanted: EmbeddingSpace;

  constructor(inProgress: EmbeddingSpace, wanted: EmbeddingSpace) {
    super(
      `A reembed to ${describeEmbeddingSpace(inProgress)} is unfinished on this database, but the ` +
        `configuration asks for ${describeEmbeddingSpace(wanted)}. To finish it, run \`marquee reembed\` again ` +
        'with MARQUEE_EMBEDDER, MARQUEE_EMBEDDING_MODEL and MARQUEE_EMBEDDING_DIMENSION set as for the ' +
        'unfinished one; to abandon it and start over with these, add --restart.',
    );
    this.name = 'ReembedInProgressError';
    this.inProgress = inProgress;
    this.wanted = wanted;
  }
}

/** Another reembed changed the recorded spaces while this one ran (run twice at once, or --restart). */
export class ReembedSupersededError extends Error {
  constructor() {
    super(
      'Another `marquee reembed` changed this database while this one was running (started at the same time, ' +
        'or with --restart); this one stopped without swapping anything. Run `marquee reembed --dry-run` to see ' +
        'where things stand.',
    );
    this.name = 'ReembedSupersededError';
  }
}

export interface ReembedOptions {
  /** Only work out what would be done. */
  dryRun?: boolean;
  /** Abandon an unfinished reembed (to any space) and start over. */
  restart?: boolean;
  chunkSize?: number;
  /** Stops the run between chunks; run again to resume. */
  signal?: AbortSignal;
  onProgress?: (progress: ReembedProgress) => void;
}

export interface ReembedProgress {
  phase: 'embedding' | 'indexing' | 'catching up' | 'swapping';
  /** Items with a current staged vector, of `items`. */
  staged: number;
  items: number;
}

export interface ReembedPlan {
  from: EmbeddingSpace;
  to: EmbeddingSpace;
  /** A new reembed, one resumed, or one replacing an unfinished reembed (`abandoned`). */
  start: 'new' | 'resume' | 'restart';
  abandoned: EmbeddingSpace | undefined;
  items: number;
  /** Items already staged with their current text: not embedded again. */
  staged: number;
}

export interface ReembedCounts {
  from: EmbeddingSpace;
  to: EmbeddingSpace;
  items: number;
  /** Embedded by this run, catch-up included. */
  embedded: number;
  /** Staged by an earlier, interrupted run and kept. */
  reused: number;
  seconds: number;
}

export type ReembedResult =
  | {
      outcome: 'nothing to do';
      space: EmbeddingSpace;
      /** An unfinished reembed to another space, left as it is (or abandoned, with --restart). */
      unfinished: EmbeddingSpace | undefined;
      abandoned: boolean;
    }
  | { outcome: 'planned'; plan: ReembedPlan }
  | ({ outcome: 'interrupted' } & ReembedCounts)
  | ({ outcome: 'swapped' } & ReembedCounts);

/**
 * Moves the database's vectors to `embedder`'s space, embedding every item's text (made of `fields`) with
 * it; see the steps above. Resumable: a stopped run (signal, crash) leaves its work staged for the next.
 */
export async function reembedCatalog(
  db: Kysely<Database>,
  embedder: Embedder,
  fields: readonly EmbeddableField[],
  options: ReembedOptions = {},
): Promise<ReembedResult> {
  const startedAt = performance.now();
  const { provider, model, dimension } = embedder.space;
  const to: EmbeddingSpace = { provider, model, dimension };
  const from = await readEmbeddingSpace(db);
  const unfinished = await readEmbeddingSpace(db, NEXT_EMBEDDING_SPACE_KEY);

  if (!from || sameEmbeddingSpace(from, to)) {
    // A database never started records the configured space as a first start would; nothing to move.
    if (!from && !options.dryRun) await ensureEmbeddingSpace(db, to);
    const abandoned = Boolean(unfinished && options.restart && !options.dryRun);
    if (abandoned) await abandonStaging(db);
    return { outcome: 'nothing to do', space: from ?? to, unfinished, abandoned };
  }
  if (unfinished && !sameEmbeddingSpace(unfinished, to) && !options.restart)
    throw new ReembedInProgressError(unfinished, to);

  const resumable =
    unfinished !== undefined &&
    sameEmbeddingSpace(unfinished, to) &&
    !options.restart &&
    (await embeddingColumnDimension(db, 'item_embeddings_next')) === to.dimension;
  const start = resumable ? 'resume' : unfinished ? 'restart' : 'new';
  if (options.dryRun) {
    const counts = await countStagedItems(db);
    return {
      outcome: 'planned',
      plan: {
        from,
        to,
        start,
        abandoned:
          start === 'restart' && unfinished && !sameEmbeddingSpace(unfinished, to) ? unfinished : undefined,
        items: counts.items,
        staged: resumable ? counts.staged : 0,
      },
    };
  }

  if (!resumable)
    await db.transaction().execute(async (trx) => {
      await resetStagingTable(trx, to.dimension);
      await setMetaValue(trx, NEXT_EMBEDDING_SPACE_KEY, { ...to, startedAt: new Date().toISOString() });
    });
  const initial = await countStagedItems(db);
  const run = new StagingRun(embedder, to, fields, options, initial);
  const counts = (): ReembedCounts => ({
    from,
    to,
    items: run.items,
    embedded: run.embedded,
    reused: initial.staged,
    seconds: (performance.now() - startedAt) / 1000,
  });

  if ((await run.pass(db, 'embedding')) === 'interrupted') return { outcome: 'interrupted', ...counts() };
  run.report('indexing');
  await buildStagedEmbeddingIndex(db);
  for (let attempt = 1; ; attempt++) {
    run.recount(await countStagedItems(db));
    if ((await run.pass(db, 'catching up')) === 'interrupted') return { outcome: 'interrupted', ...counts() };
    run.report('swapping');
    const lastAttempt = attempt === SWAP_ATTEMPTS;
    try {
      const swapped = await db.transaction().execute(async (trx) => {
        await holdItemWrites(trx, SWAP_LOCK_TIMEOUT);
        const current = await readEmbeddingSpace(trx);
        const next = await readEmbeddingSpace(trx, NEXT_EMBEDDING_SPACE_KEY);
        if (!current || !sameEmbeddingSpace(current, from) || !next || !sameEmbeddingSpace(next, to))
          throw new ReembedSupersededError();
        const behind = await countStagedItems(trx);
        if (behind.items - behind.staged > MAX_ITEMS_TO_EMBED_WHILE_HOLDING_WRITES && !lastAttempt)
          return false;
        // Not interruptible from here: stopping now would only throw away the catch-up just done.
        await run.pass(trx, 'swapping', { interruptible: false });
        const final = await countStagedItems(trx);
        if (final.staged !== final.items)
          throw new Error(`${final.items - final.staged} items are still unstaged while writes are held`);
        run.recount(final);
        await swapStagedEmbeddings(trx);
        await setMetaValue(trx, EMBEDDING_SPACE_KEY, to);
        await deleteMetaValue(trx, NEXT_EMBEDDING_SPACE_KEY);
        return true;
      });
      if (swapped) return { outcome: 'swapped', ...counts() };
    } catch (error) {
      if (!isLockConflict(error) || lastAttempt) throw error;
    }
  }
}

/** Clears an unfinished reembed's staged vectors and its target. */
async function abandonStaging(db: Kysely<Database>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await resetStagingTable(trx, null);
    await deleteMetaValue(trx, NEXT_EMBEDDING_SPACE_KEY);
  });
}

/** Passes over the catalog that stage what is missing, counting what they embed. */
class StagingRun {
  readonly #embedder: Embedder;
  readonly #space: EmbeddingSpace;
  readonly #fields: readonly EmbeddableField[];
  readonly #options: ReembedOptions;
  readonly #chunkSize: number;
  items: number;
  #staged: number;
  embedded = 0;

  constructor(
    embedder: Embedder,
    space: EmbeddingSpace,
    fields: readonly EmbeddableField[],
    options: ReembedOptions,
    initial: { items: number; staged: number },
  ) {
    this.#embedder = embedder;
    this.#space = space;
    this.#fields = fields;
    this.#options = options;
    this.#chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.items = initial.items;
    this.#staged = initial.staged;
  }

  recount(counts: { items: number; staged: number }): void {
    this.items = counts.items;
    this.#staged = counts.staged;
  }

  report(phase: ReembedProgress['phase']): void {
    this.#options.onProgress?.({ phase, staged: Math.min(this.#staged, this.items), items: this.items });
  }

  /** One pass in id order; 'interrupted' when the signal stopped it between chunks. */
  async pass(
    db: Kysely<Database>,
    phase: ReembedProgress['phase'],
    { interruptible = true } = {},
  ): Promise<'done' | 'interrupted'> {
    const signal = interruptible ? this.#options.signal : undefined;
    let afterId: string | undefined;
    for (;;) {
      if (signal?.aborted) return 'interrupted';
      const chunk = await findItemsToStage(db, this.#chunkSize, afterId);
      if (chunk.length === 0) return 'done';
      let vectors: Float32Array[];
      try {
        vectors = await this.#embedder.embed(
          chunk.map((item) => itemEmbeddingText(embeddableFromRow(item), this.#fields)),
          { signal },
        );
      } catch (error) {
        if (signal?.aborted) return 'interrupted';
        throw error;
      }
      const stored = await storeItemEmbeddings(
        db,
        this.#space,
        chunk.map((item, index) => ({
          itemId: item.id,
          embedding: vectors[index] ?? new Float32Array(this.#space.dimension),
          contentHash: item.embedding_text_hash,
        })),
        'item_embeddings_next',
      );
      // Refused items changed meanwhile (the next pass takes them), unless the staging table is no longer ours.
      if (stored < chunk.length) {
        const next = await readEmbeddingSpace(db, NEXT_EMBEDDING_SPACE_KEY);
        if (!next || !sameEmbeddingSpace(next, this.#space)) throw new ReembedSupersededError();
      }
      this.embedded += stored;
      this.#staged += stored;
      this.report(phase);
      afterId = chunk.at(-1)?.id;
      if (chunk.length < this.#chunkSize) return 'done';
    }
  }
}
