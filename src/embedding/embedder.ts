import type { EmbeddingSpace } from '../db/embedding-space.ts';

/**
 * Turns texts into unit vectors of one embedding space. Implementations batch, limit concurrency and retry
 * as their provider needs; callers pass any number of texts and get one vector per text, in order.
 */
export interface Embedder {
  readonly space: EmbeddingSpace;
  embed(texts: readonly string[], options?: { signal?: AbortSignal }): Promise<Float32Array[]>;
}

/** Scales a vector to unit length in place (a zero vector stays zero). */
export function normalize(vector: Float32Array): Float32Array {
  let norm = 0;
  for (const value of vector) norm += value * value;
  norm = Math.sqrt(norm);
  if (norm > 0)
    for (let index = 0; index < vector.length; index++) vector[index] = (vector[index] ?? 0) / norm;
  return vector;
}
