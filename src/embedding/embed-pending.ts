import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import { EmbeddingSpaceChangedError, readEmbeddingSpace, sameEmbeddingSpace } from '../db/embedding-space.ts';
import {
  findItemsNeedingEmbedding,
  storeItemEmbeddings,
} from '../repositories/item-embeddings.repository.ts';
import type { Embedder } from './embedder.ts';
import { embeddableFromRow, type ItemTextPolicy, itemEmbeddingText } from './item-text.ts';

const CHUNK = 256;

/**
 * Embeds the items whose embedding is missing or stale (all of them, or only `ids`), a chunk at a time, and
 * returns how many embeddings were stored. Idempotent: what is already embedded from the same text is never
 * sent to the embedder again, so a retried or concurrent run costs nothing extra. Throws
 * EmbeddingSpaceChangedError when `marquee reembed` has moved the database to another embedder.
 */
export async function embedPendingItems(
  db: Kysely<Database>,
  embedder: Embedder,
  policy: ItemTextPolicy,
  options: { ids?: readonly string[]; signal?: AbortSignal } = {},
): Promise<number> {
  let stored = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    const pending = await findItemsNeedingEmbedding(db, CHUNK, options.ids);
    if (pending.length === 0) return stored;
    // Checked before paying for embeddings the database would refuse (storeItemEmbeddings checks again).
    const current = await readEmbeddingSpace(db);
    if (current && !sameEmbeddingSpace(current, policy.space))
      throw new EmbeddingSpaceChangedError(current, policy.space);
    const vectors = await embedder.embed(
      pending.map((item) => itemEmbeddingText(embeddableFromRow(item), policy.fields)),
      { signal: options.signal },
    );
    const written = await storeItemEmbeddings(
      db,
      policy.space,
      pending.map((item, index) => ({
        itemId: item.id,
        embedding: vectors[index] ?? new Float32Array(policy.space.dimension),
        contentHash: item.embedding_text_hash,
      })),
    );
    stored += written;
    // Items that changed while they were being embedded stay pending; stop rather than spin on them.
    if (written === 0 || pending.length < CHUNK) return stored;
  }
}
