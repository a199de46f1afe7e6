/**
 * Re-rankers applied after the blend, pure and deterministic: MMR diversity (maximal marginal relevance),
 * caps per series and per genre, and exploration slots. The same candidates and options give the same list.
 */
import type { Reason } from './blend.ts';
import type { RankingSignal } from './ranking/ranking-signals.ts';
import { fnv1a } from '../fnv1a.ts';

export interface RankableCandidate {
  itemId: string;
  score: number;
  reasons: Reason[];
  genres: readonly string[];
  seriesId: string | null;
  /** Unit vector; without one, similarity falls back to shared genres alone. */
  embedding: Float32Array | undefined;
  signals?: RankingSignal[] | undefined;
  /**
   * An item added since the last training that is among the closest in content to the user: how close (its
   * content score). Only these take new-item slots.
   */
  newItemContent?: number | undefined;
}

export interface RerankOptions {
  /** How many items to keep, in order. */
  size: number;
  /** 0: by score only; 1: similarity to what is already chosen weighs as much as relevance. */
  diversity: number;
  /** At most this many items of one series (0: no cap). */
  maxPerSeries: number;
  /** At most this many items sharing a genre (0: no cap). */
  maxPerGenre: number;
  /** Positions in each run of EXPLORATION_EVERY given to an exploration pick. */
  explorationSlots: number;
  /** Seeds the exploration picks: the same seed, the same picks. */
  seed: string;
  /**
   * Positions in each run of EXPLORATION_EVERY kept for the closest new item (newItemContent), when there is
   * one: a new release close to the user's taste reaches the page before anyone has watched it.
   */
  newItemSlots?: number | undefined;
}

/**
 * Exploration picks come from the candidates ranked this far down (or the lower half of a short list): not
 * what the ranker would show anyway. Fixed, not tied to the page size, so a deeper page continues the same
 * list (the greedy picks are a prefix of each other).
 */
const EXPLORATION_POOL_START = 100;
/** Every this many positions, one goes to exploration (when `explorationSlots` allows). */
export const EXPLORATION_EVERY = 10;
/** Where in each run of EXPLORATION_EVERY the exploration picks go (0-based), first slot first. */
const SLOT_ORDER = [7, 4, 9, 2, 5, 8, 3, 6, 1, 0];
/** Where in each run the new-item slots go, first slot first (clear of the first exploration slots). */
const NEW_ITEM_SLOT_ORDER = [2, 6, 0, 8, 3, 5, 1, 9, 4, 7];

/**
 * Picks `size` items greedily: at each step the candidate with the best
 * (1 − diversity) · relevance − diversity · (highest similarity to an item already picked),
 * relevance being the score scaled to [0, 1]. Candidates that would break a cap wait; if the page cannot be
 * filled otherwise, they come back in order (a short page is worse than a repeated genre). Exploration picks,
 * drawn with a seeded generator from the lower-ranked candidates, take fixed positions. The list for a
 * larger `size` starts with the list for a smaller one.
 */
export function rerank(
  candidates: readonly RankableCandidate[],
  options: RerankOptions,
): RankableCandidate[] {
  const size = Math.min(options.size, candidates.length);
  if (size === 0) return [];
  const maxScore = Math.max(...candidates.map((candidate) => candidate.score), Number.EPSILON);
  const relevance = candidates.map((candidate) => Math.max(0, candidate.score) / maxScore);
  const genreSets = candidates.map((candidate) => new Set(candidate.genres));
  const genreMasks = genreBitMasks(genreSets);
  const lambda = 1 - options.diversity;
  // Each candidate's highest similarity to the picks, brought up to date only when it is looked at: the search
  // for the best value goes by relevance and stops where relevance alone can no longer win, so most
  // candidates are never compared with most picks (the page is the same as with every similarity computed).
  const maxSimilarity = new Float64Array(candidates.length);
  const picksSeen = new Uint32Array(candidates.length);
  const byRelevance = relevance
    .map((value, index) => ({ value, index }))
    .sort((a, b) => b.value - a.value || a.index - b.index)
    .map((entry) => entry.index);
  const taken = new Uint8Array(candidates.length);
  const seriesCount = new Map<string, number>();
  const genreCount = new Map<string, number>();
  const picked: number[] = [];

  const poolStart = Math.min(EXPLORATION_POOL_START, Math.floor(candidates.length / 2));
  const explorationPositions = explorationPositionsOf(
    size,
    options.explorationSlots,
    candidates.length >= 10,
  );
  const explorationPool = explorationPicks(
    candidates.length,
    poolStart,
    explorationPositions.size,
    options.seed,
  );
  const explored = new Set<number>();
  const newItemPositions = new Set<number>();
  for (let start = 0; start < size; start += EXPLORATION_EVERY)
    for (const offset of NEW_ITEM_SLOT_ORDER.slice(0, options.newItemSlots ?? 0))
      if (start + offset < size && !explorationPositions.has(start + offset))
        newItemPositions.add(start + offset);
  const newItems = candidates
    .map((candidate, index) => ({ index, content: candidate.newItemContent }))
    .filter((entry): entry is { index: number; content: number } => entry.content !== undefined)
    .sort((a, b) => b.content - a.content || a.index - b.index)
    .map((entry) => entry.index);

  const breaksCap = (index: number) => {
    const candidate = candidates[index]!;
    if (
      options.maxPerSeries > 0 &&
      candidate.seriesId !== null &&
      (seriesCount.get(candidate.seriesId) ?? 0) >= options.maxPerSeries
    )
      return true;
    if (options.maxPerGenre > 0)
      for (const genre of candidate.genres)
        if ((genreCount.get(genre) ?? 0) >= options.maxPerGenre) return true;
    return false;
  };
  const take = (index: number) => {
    taken[index] = 1;
    picked.push(index);
    const candidate = candidates[index]!;
    if (candidate.seriesId !== null)
      seriesCount.set(candidate.seriesId, (seriesCount.get(candidate.seriesId) ?? 0) + 1);
    for (const genre of candidate.genres) genreCount.set(genre, (genreCount.get(genre) ?? 0) + 1);
  };
  const catchUp = (index: number) => {
    if (options.diversity <= 0) return;
    for (let at = picksSeen[index]!; at < picked.length; at++) {
      const pick = picked[at]!;
      const similarity = genreMasks
        ? blendSimilarity(
            candidates[pick]!.embedding,
            candidates[index]!.embedding,
            maskJaccard(genreMasks[pick]!, genreMasks[index]!),
          )
        : itemSimilarity(candidates[pick]!, candidates[index]!, genreSets[pick]!, genreSets[index]!);
      if (similarity > maxSimilarity[index]!) maxSimilarity[index] = similarity;
    }
    picksSeen[index] = picked.length;
  };

  let relaxCaps = false;
  while (picked.length < size) {
    if (explorationPositions.has(picked.length)) {
      const pick = explorationPool.find((index) => !taken[index] && !breaksCap(index));
      if (pick !== undefined) {
        explored.add(pick);
        take(pick);
        continue;
      }
    }
    if (newItemPositions.has(picked.length)) {
      const pick = newItems.find((index) => !taken[index] && !breaksCap(index));
      if (pick !== undefined) {
        take(pick);
        continue;
      }
    }
    let best = -1;
    let bestValue = -Infinity;
    for (const index of byRelevance) {
      // A value is at most λ · relevance: no candidate from here on can beat the best.
      if (best >= 0 && lambda * relevance[index]! < bestValue) break;
      if (taken[index] || (!relaxCaps && breaksCap(index))) continue;
      // Similarities to the picks only grow: with those known so far the value is at most this. A candidate
      // that cannot win even so is not brought up to date.
      if (lambda * relevance[index]! - (1 - lambda) * maxSimilarity[index]! < bestValue) continue;
      catchUp(index);
      const value = lambda * relevance[index]! - (1 - lambda) * maxSimilarity[index]!;
      if (value > bestValue || (value === bestValue && index < best)) {
        bestValue = value;
        best = index;
      }
    }
    if (best < 0) {
      if (relaxCaps) break;
      relaxCaps = true;
      continue;
    }
    take(best);
  }
  return picked.map((index) => {
    const candidate = candidates[index]!;
    if (!explored.has(index)) return candidate;
    const reason: Reason = {
      source: 'exploration',
      detail: 'Outside your usual picks, to discover what else you like',
      evidenceItemIds: [],
    };
    return { ...candidate, reasons: [reason, ...candidate.reasons] };
  });
}

/** Exploration positions: in each run of EXPLORATION_EVERY, the first `slots` of SLOT_ORDER. */
function explorationPositionsOf(size: number, slots: number, hasPool: boolean): Set<number> {
  const positions = new Set<number>();
  if (!hasPool) return positions;
  for (let start = 0; start < size; start += EXPLORATION_EVERY)
    for (const offset of SLOT_ORDER.slice(0, slots)) if (start + offset < size) positions.add(start + offset);
  return positions;
}

/**
 * Cosine similarity of the embeddings blended with the Jaccard similarity of the genre sets: embeddings see
 * the plot and tone, genres are what a viewer notices on the row.
 */
export function itemSimilarity(
  a: RankableCandidate,
  b: RankableCandidate,
  genresA: ReadonlySet<string>,
  genresB: ReadonlySet<string>,
): number {
  let common = 0;
  for (const genre of genresA) if (genresB.has(genre)) common++;
  const union = genresA.size + genresB.size - common;
  return blendSimilarity(a.embedding, b.embedding, union === 0 ? 0 : common / union);
}

function blendSimilarity(a: Float32Array | undefined, b: Float32Array | undefined, jaccard: number): number {
  if (!a || !b || a.length !== b.length) return jaccard;
  return 0.5 * Math.max(0, dot(a, b)) + 0.5 * jaccard;
}

/** Dot product, four lanes at a time (the hot loop of a page's re-ranking). */
function dot(a: Float32Array, b: Float32Array): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const end = a.length - (a.length % 4);
  let d = 0;
  for (; d < end; d += 4) {
    s0 += a[d]! * b[d]!;
    s1 += a[d + 1]! * b[d + 1]!;
    s2 += a[d + 2]! * b[d + 2]!;
    s3 += a[d + 3]! * b[d + 3]!;
  }
  for (; d < a.length; d++) s0 += a[d]! * b[d]!;
  return s0 + s1 + s2 + s3;
}

/** Each candidate's genres as bits of one number, when the page has at most 31 distinct genres. */
function genreBitMasks(genreSets: readonly ReadonlySet<string>[]): Int32Array | undefined {
  const bits = new Map<string, number>();
  const masks = new Int32Array(genreSets.length);
  for (let index = 0; index < genreSets.length; index++) {
    for (const genre of genreSets[index]!) {
      let bit = bits.get(genre);
      if (bit === undefined) {
        if (bits.size === 31) return undefined;
        bit = bits.size;
        bits.set(genre, bit);
      }
      masks[index]! |= 1 << bit;
    }
  }
  return masks;
}

/** Jaccard similarity of two genre bit masks. */
function maskJaccard(a: number, b: number): number {
  const union = bitCount(a | b);
  return union === 0 ? 0 : bitCount(a & b) / union;
}

function bitCount(value: number): number {
  let bits = value - ((value >>> 1) & 0x55555555);
  bits = (bits & 0x33333333) + ((bits >>> 2) & 0x33333333);
  return (((bits + (bits >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Candidate indices for exploration, in the order they are tried: a seeded shuffle of those from `start`. */
function explorationPicks(count: number, start: number, slots: number, seed: string): number[] {
  if (slots === 0 || count <= start) return [];
  const pool = Array.from({ length: count - start }, (_, n) => start + n);
  const random = seededRandom(seed);
  for (let n = pool.length - 1; n > 0; n--) {
    const m = Math.floor(random() * (n + 1));
    [pool[n], pool[m]] = [pool[m]!, pool[n]!];
  }
  return pool;
}

/** mulberry32 seeded by an FNV-1a hash of the string: small, fast, and the same on every machine. */
export function seededRandom(seed: string): () => number {
  let state = fnv1a(seed);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
