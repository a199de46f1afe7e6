/**
 * Moods and other words the chat has no genre for ("scary", "hilarious", "goofy") as the catalog's own genre
 * labels, through the word vectors of the local embedder (src/embedding/word-vectors.ts). A label's vector
 * is the average of its words' ("Horror Movies" is horror, "Sci-Fi & Fantasy" sci-fi and fantasy, "Romantic
 * Movies" romance as the parser's genre words say it), format words ("movies", "TV") left out; labels with
 * the same words share a vector. A word means the label nearest to it when that label is near enough and
 * clearly nearer than any other genre, together with its kin (the same genre in other formats and
 * spellings: "TV Horror" beside "Horror Movies", the stand-up labels beside "Comedies").
 *
 * The vectors are weak at this: against netflix's and MovieLens's labels the nearest label is a fair genre
 * for 22 of the parser's 40 moods on each, and a topic noun ("london", "school") or a common word ("people") is
 * as near some genre as a mood is. The thresholds below keep the mappings the vectors are sure of (figures
 * in test/chat/nearest-genres.test.ts), and the callers choose the words: the parser's moods, and of the
 * other words only those whose vector sits among the moods' (`isToneWord`). Pure but for a cache of label
 * vectors per vocabulary.
 */
import type { ChatQuery } from './chat-query.ts';
import { GENRE_WORDS, MOOD_WORDS, wordEntry } from './chat-vocabulary.ts';
import { type GenreLabel, resolveGenre, stem } from './genre-resolver.ts';

/** What the resolver needs of the word vectors (src/embedding/word-vectors.ts's WordVectors has it). */
export interface WordVectorLookup {
  readonly dimensions: number;
  /** The word's index, its rank by corpus frequency (0 = most frequent); undefined when unknown. */
  indexOf(word: string): number | undefined;
  /** Adds weight * the word's unit vector into target. */
  addInto(target: Float64Array, index: number, weight: number): void;
}

/** A mood or tone word and the catalog labels it reads as. */
export interface MoodGenres {
  word: string;
  labels: string[];
}

/**
 * The nearest label's least cosine with the word. On the two label sets, 0.45 keeps 12 and 15 of the 40
 * moods, 9 and 13 of them right (0.40 keeps 18 and 23, 13 and 17 right; 0.50 keeps 10 and 10, 8 and 9 right).
 */
const MIN_SIMILARITY = 0.45;
/**
 * How much nearer than any other genre the nearest must be. "dark" is 0.512 from reality TV and 0.504 from
 * mysteries on netflix, which says neither; "scary" is 0.550 from horror and 0.531 from kids' TV. 0.02
 * keeps fewer moods and fewer of them right (8 and 11), and loses "scary" on netflix.
 */
const MARGIN = 0.01;
/** The most frequent words of the vectors' corpus ("movie", "night", "something", "good") name no genre. */
const COMMON_WORDS = 1_000;
/**
 * A word is a tone word when its vector is at least this close to one of the parser's moods. On 44 tone
 * words and 79 topic and common words, 0.68 keeps 29 tone words ("goofy", "harrowing", "whimsical") and 3
 * others ("nice", "chill", "cosy"); "london" is 0.44 from the nearest mood, "zombies" 0.38.
 */
const TONE_SIMILARITY = 0.68;
/** Moods and tone words read as genres at most ("dark, twisty and tense" is three). */
const MAX_MOODS = 3;

/** Words that join a label's genres ("Action and Adventure"). */
const JOINERS = new Set(['and', 'or', 'of', 'the', 'with']);
/** Words of a label that say what a title is, not its genre (stems, as genre-resolver.ts's). */
const FORMAT_STEMS = new Set(['movi', 'film', 'tv', 'show', 'seri', 'featur', 'program', 'programm', 'titl']);

interface LabelGroup {
  /** The labels whose words are these (most used first). */
  labels: string[];
  /** Their content words, as the vectors know them ("sci-fi", "fantasy"). */
  words: string[];
  vector: Float64Array;
}

interface LabelSpace {
  groups: LabelGroup[];
}

const spaces = new WeakMap<WordVectorLookup, WeakMap<readonly GenreLabel[], LabelSpace>>();
const moodVectors = new WeakMap<WordVectorLookup, Float64Array[]>();

/**
 * The catalog labels `word` means by its vector, most used first within each genre; none when the word is
 * unknown to the vectors, common, or near no label.
 */
export function nearestGenres(
  word: string,
  labels: readonly GenreLabel[],
  vectors: WordVectorLookup,
): string[] {
  const scored = genreSimilarities(word, labels, vectors);
  const first = scored[0];
  if (!first || first.similarity < MIN_SIMILARITY) return [];
  // The nearest genre must lead the next one that shares none of its words.
  const rival = scored.find((group) => !group.words.some((content) => first.words.includes(content)));
  if (rival && rival.similarity > first.similarity - MARGIN) return [];
  const found = new Set([
    ...first.labels,
    ...first.words.flatMap((content) => resolveGenre(content, labels)),
  ]);
  return [...new Set(labels.map((entry) => entry.label))].filter((label) => found.has(label));
}

/**
 * Each group of labels with the same words, by cosine with the word, nearest first; none for a word the
 * vectors do not know or that is too common to name a genre.
 */
export function genreSimilarities(
  word: string,
  labels: readonly GenreLabel[],
  vectors: WordVectorLookup,
): { labels: string[]; words: string[]; similarity: number }[] {
  const vector = wordVector(word, vectors);
  if (!vector) return [];
  return labelSpace(labels, vectors)
    .groups.map((group) => ({
      labels: group.labels,
      words: group.words,
      similarity: dot(vector, group.vector),
    }))
    .sort((a, b) => b.similarity - a.similarity || compareText(a.labels[0] ?? '', b.labels[0] ?? ''));
}

/**
 * The query's moods and the tone words of its semantic text, each with the catalog labels it reads as; the
 * words that read as none left out, and one word per set of labels.
 */
export function moodGenres(
  query: Pick<ChatQuery, 'mood' | 'semanticText'>,
  labels: readonly GenreLabel[],
  vectors: WordVectorLookup,
): MoodGenres[] {
  // The rules join moods with "and" ("scary and funny"); a model may use commas.
  const moods = (query.mood ?? '')
    .split(/\s*(?:,|\band\b)\s*/)
    .map((mood) => mood.trim())
    .filter(Boolean);
  const others = query.semanticText
    .split(/\s+/)
    .filter((word) => word !== '' && !moods.includes(word) && isToneWord(word, vectors));
  const found: MoodGenres[] = [];
  for (const word of [...moods, ...others]) {
    const meant = nearestGenres(word, labels, vectors);
    const same = (other: MoodGenres) =>
      other.labels.length === meant.length && other.labels.every((label) => meant.includes(label));
    if (meant.length > 0 && !found.some(same)) found.push({ word, labels: meant });
  }
  return found.slice(0, MAX_MOODS);
}

/**
 * Whether a word describes a tone rather than a topic: its vector is among the parser's moods'
 * ("chilling" is near "creepy", "london" is near none). Common and unknown words are not.
 */
export function isToneWord(word: string, vectors: WordVectorLookup): boolean {
  const vector = wordVector(word, vectors);
  if (!vector) return false;
  return moodVectorsOf(vectors).some((mood) => dot(vector, mood) >= TONE_SIMILARITY);
}

/**
 * The word's unit vector: as written ("sci-fi", "feel-good"), else without its hyphens or spaces
 * ("lighthearted"). A compound the vectors do not know is not guessed from its parts: "mind" and "bending"
 * average to nothing like "mind-bending".
 */
function wordVector(word: string, vectors: WordVectorLookup): Float64Array | undefined {
  const clean = word.normalize('NFKC').toLowerCase().trim().replace(/\s+/g, '-');
  if (clean === '' || FORMAT_STEMS.has(stem(clean))) return undefined;
  const index = vectors.indexOf(clean) ?? vectors.indexOf(clean.replace(/-/g, ''));
  if (index === undefined || index < COMMON_WORDS) return undefined;
  const vector = new Float64Array(vectors.dimensions);
  vectors.addInto(vector, index, 1);
  return unit(vector);
}

function labelSpace(labels: readonly GenreLabel[], vectors: WordVectorLookup): LabelSpace {
  let byLabels = spaces.get(vectors);
  if (!byLabels) {
    byLabels = new WeakMap();
    spaces.set(vectors, byLabels);
  }
  const cached = byLabels.get(labels);
  if (cached) return cached;
  const groups = new Map<string, LabelGroup>();
  const ordered = [...labels].sort((a, b) => b.count - a.count || compareText(a.label, b.label));
  for (const { label } of ordered) {
    const words = contentWords(label, vectors);
    if (words.length === 0) continue;
    const key = words.join(' ');
    const group = groups.get(key);
    if (group) {
      group.labels.push(label);
      continue;
    }
    const vector = new Float64Array(vectors.dimensions);
    for (const content of words) vectors.addInto(vector, vectors.indexOf(content)!, 1);
    groups.set(key, { labels: [label], words, vector: unit(vector) });
  }
  const space = { groups: [...groups.values()] };
  byLabels.set(labels, space);
  return space;
}

/**
 * The words of a label the vectors know, format words left out: a hyphenated word as a whole when the
 * vectors know it ("sci-fi", "stand-up"), else its parts; a possessive without its "'s" ("Kids' TV").
 */
function contentWords(label: string, vectors: WordVectorLookup): string[] {
  const tokens =
    label
      .normalize('NFKC')
      .toLowerCase()
      .replace(/['\u2019]s?(?![\p{L}\p{N}])/gu, '')
      .match(/[\p{L}\p{N}]+(?:-[\p{L}\p{N}]+)*/gu) ?? [];
  const words = tokens.flatMap((token) => {
    const canonical = wordEntry(GENRE_WORDS, token.replace(/-/g, ' ')) ?? [token];
    return canonical.flatMap((genre) =>
      vectors.indexOf(genre) !== undefined ? [genre] : genre.split(/[- ]/),
    );
  });
  return [
    ...new Set(
      words.filter(
        (content) =>
          content.length > 1 && !FORMAT_STEMS.has(stem(content)) && vectors.indexOf(content) !== undefined,
      ),
    ),
  ].filter((content) => !JOINERS.has(content));
}

function moodVectorsOf(vectors: WordVectorLookup): Float64Array[] {
  let found = moodVectors.get(vectors);
  if (!found) {
    found = Object.keys(MOOD_WORDS).flatMap((phrase) => {
      const vector = wordVector(phrase, vectors);
      return vector ? [vector] : [];
    });
    moodVectors.set(vectors, found);
  }
  return found;
}

function unit(vector: Float64Array): Float64Array {
  let norm = 0;
  for (const value of vector) norm += value * value;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let index = 0; index < vector.length; index++) vector[index] = vector[index]! / norm;
  return vector;
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let index = 0; index < a.length; index++) sum += a[index]! * (b[index] ?? 0);
  return sum;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
