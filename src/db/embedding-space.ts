import type { Kysely } from 'kysely';
import { z } from 'zod';
import {
  embeddingColumnDimension,
  fixEmbeddingColumnDimension,
  getMetaValue,
  setMetaValueOnce,
} from '../repositories/meta.repository.ts';
import type { Database } from './database.ts';

/** What a database's vectors were made with: only vectors of one space can be compared. */
export interface EmbeddingSpace {
  provider: string;
  model: string;
  dimension: number;
}

const EMBEDDING_SPACE_KEY = 'embedding_space';
// Databases made before the embedder was configurable hold no provider: theirs was the local one.
const storedSpaceSchema = z.object({
  provider: z.string().default('local'),
  model: z.string(),
  dimension: z.number().int().positive(),
});
const describe = (space: EmbeddingSpace) =>
  `the ${space.provider} embedder, model "${space.model}", dimension ${space.dimension}`;

export class EmbeddingSpaceMismatchError extends Error {
  readonly stored: EmbeddingSpace;
  readonly configured: EmbeddingSpace;

  constructor(stored: EmbeddingSpace, configured: EmbeddingSpace) {
    super(
      `This database was built with ${describe(stored)}, but the configuration asks for ` +
        `${describe(configured)}. Set MARQUEE_EMBEDDER, MARQUEE_EMBEDDING_MODEL and ` +
        'MARQUEE_EMBEDDING_DIMENSION back to the stored values, move the catalog to the new embedder with ' +
        '`marquee reembed`, or start on a new database (another MARQUEE_DATA_DIR or DATABASE_URL).',
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
  if (
    stored.provider !== configured.provider ||
    stored.model !== configured.model ||
    stored.dimension !== configured.dimension
  ) {
    throw new EmbeddingSpaceMismatchError(stored, configured);
  }
}
