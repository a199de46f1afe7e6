import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
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
 * sent to the embedder again, so a retried or concurrent run costs nothing extra.
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
    const vectors = await embedder.embed(
      pending.map((item) => itemEmbeddingText(embeddableFromRow(item), policy.fields)),
      { signal: options.signal },
    );
    const written = await storeItemEmbeddings(
      db,
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
