import type { Kysely } from 'kysely';
import { z } from 'zod';
import {
  EMBEDDING_SPACE_KEY,
  embeddingColumnDimension,
  fixEmbeddingColumnDimension,
  getMetaValue,
  setMetaValueOnce,
} from '../repositories/meta.repository.ts';
import { ensureItemEmbeddingsIndex } from '../repositories/vector-index.repository.ts';
import type { Database } from './database.ts';

/** What a database's vectors were made with: only vectors of one space can be compared. */
export interface EmbeddingSpace {
  provider: string;
  model: string;
  dimension: number;
}

// Databases made before the embedder was configurable hold no provider: theirs was the local one.
const storedSpaceSchema = z.object({
  provider: z.string().default('local'),
  model: z.string(),
  dimension: z.number().int().positive(),
});
export function describeEmbeddingSpace(space: EmbeddingSpace): string {
  return `the ${space.provider} embedder, model "${space.model}", dimension ${space.dimension}`;
}

export function sameEmbeddingSpace(a: EmbeddingSpace, b: EmbeddingSpace): boolean {
  return a.provider === b.provider && a.model === b.model && a.dimension === b.dimension;
}

/** The space recorded under `key` (by default the one item_embeddings holds), if any. */
export async function readEmbeddingSpace(
  db: Kysely<Database>,
  key: string = EMBEDDING_SPACE_KEY,
): Promise<EmbeddingSpace | undefined> {
  const value = await getMetaValue(db, key);
  if (value === undefined) return undefined;
  const { provider, model, dimension } = storedSpaceSchema.parse(value);
  return { provider, model, dimension };
}

export class EmbeddingSpaceMismatchError extends Error {
  readonly stored: EmbeddingSpace;
  readonly configured: EmbeddingSpace;

  constructor(stored: EmbeddingSpace, configured: EmbeddingSpace) {
    super(
      `This database was built with ${describeEmbeddingSpace(stored)}, but the configuration asks for ` +
        `${describeEmbeddingSpace(configured)}. Set MARQUEE_EMBEDDER, MARQUEE_EMBEDDING_MODEL and ` +
        'MARQUEE_EMBEDDING_DIMENSION back to the stored values, move the catalog to the new embedder with ' +
        '`marquee reembed`, or start on a new database (another MARQUEE_DATA_DIR or DATABASE_URL).',
    );
    this.name = 'EmbeddingSpaceMismatchError';
    this.stored = stored;
    this.configured = configured;
  }
}

/**
 * A process embedding with one space on a database `marquee reembed` has since moved to another: its vectors
 * would be meaningless next to the stored ones, so they are not stored and the items stay pending.
 */
export class EmbeddingSpaceChangedError extends Error {
  readonly stored: EmbeddingSpace;
  readonly configured: EmbeddingSpace;

  constructor(stored: EmbeddingSpace, configured: EmbeddingSpace) {
    super(
      `This database now holds vectors of ${describeEmbeddingSpace(stored)} (moved by \`marquee reembed\`), but this ` +
        `process embeds with ${describeEmbeddingSpace(configured)}. Restart it with MARQUEE_EMBEDDER, ` +
        'MARQUEE_EMBEDDING_MODEL and MARQUEE_EMBEDDING_DIMENSION set to the new values; items written ' +
        'meanwhile stay pending until then.',
    );
    this.name = 'EmbeddingSpaceChangedError';
    this.stored = stored;
    this.configured = configured;
  }
}

/**
 * Records the embedding model and dimension the first time a database is used, sizes the vector column to
 * match, and refuses to run on a database made for another model or dimension (its vectors would be
 * meaningless to the configured embedder).
 */
export async function ensureEmbeddingSpace(db: Kysely<Database>, wanted: EmbeddingSpace): Promise<void> {
  const configured: EmbeddingSpace = {
    provider: wanted.provider,
    model: wanted.model,
    dimension: wanted.dimension,
  };
  const existing = await getMetaValue(db, EMBEDDING_SPACE_KEY);
  const stored = storedSpaceSchema.parse(
    existing ??
      (await db.transaction().execute(async (trx) => {
        const winner = storedSpaceSchema.parse(await setMetaValueOnce(trx, EMBEDDING_SPACE_KEY, configured));
        if ((await embeddingColumnDimension(trx)) === null)
          await fixEmbeddingColumnDimension(trx, winner.dimension);
        return winner;
      })),
  );
  if (!sameEmbeddingSpace(stored, configured)) throw new EmbeddingSpaceMismatchError(stored, configured);
  // A bulk load drops the HNSW index and builds it when it ends; one cut short by a crash builds it here.
  await ensureItemEmbeddingsIndex(db);
}
