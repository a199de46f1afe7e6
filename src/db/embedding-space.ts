import type { Kysely } from 'kysely';
import { z } from 'zod';
import {
  embeddingColumnDimension,
  fixEmbeddingColumnDimension,
  getMetaValue,
  setMetaValueOnce,
} from '../repositories/meta.repository.ts';
import type { Database } from './database.ts';

export interface EmbeddingSpace {
  model: string;
  dimension: number;
}

const EMBEDDING_SPACE_KEY = 'embedding_space';
const storedSpaceSchema = z.object({ model: z.string(), dimension: z.number().int().positive() });

export class EmbeddingSpaceMismatchError extends Error {
  readonly stored: EmbeddingSpace;
  readonly configured: EmbeddingSpace;

  constructor(stored: EmbeddingSpace, configured: EmbeddingSpace) {
    super(
      `This database was created for embedding model "${stored.model}" with dimension ${stored.dimension}, ` +
        `but the configuration asks for "${configured.model}" with dimension ${configured.dimension}. ` +
        'Set MARQUEE_EMBEDDING_MODEL and MARQUEE_EMBEDDING_DIMENSION back to the stored values, or start on ' +
        'a new database (another MARQUEE_DATA_DIR or DATABASE_URL).',
    );
    this.name = 'EmbeddingSpaceMismatchError';
    this.stored = stored;
    this.configured = configured;
  }
}

/**
 * Records the embedding model and dimension the first time a database is used, sizes the vector column to
 * match, and refuses to run on a database made for another model or dimension (its vectors would be
 * meaningless to the configured embedder).
 */
export async function ensureEmbeddingSpace(db: Kysely<Database>, configured: EmbeddingSpace): Promise<void> {
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
  if (stored.model !== configured.model || stored.dimension !== configured.dimension) {
    throw new EmbeddingSpaceMismatchError(stored, configured);
  }
}
