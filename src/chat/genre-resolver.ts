/**
 * From the genres a viewer names ("horror", "sci-fi", "comedies") to the genre labels of this catalog
 * ("Horror Movies" and "TV Horror", "Sci-Fi & Fantasy", "Comedies" and "TV Comedies"). Catalogs label genres
 * their own way, so words are compared stem to stem with the words of each label, through a few synonyms
 * for concepts whose words differ ("romantic" is "romance", "cartoon" is "animation"). Pure.
 */

import { wordEntry } from './chat-vocabulary.ts';

export interface GenreLabel {
  label: string;
  /** Items carrying it: the more used labels come first in an answer. */
  count: number;
}

/** Other ways labels say some genres; each alternative is matched like the word itself. */
const SYNONYMS: Readonly<Record<string, readonly string[]>> = {
  'sci fi': ['science fiction', 'scifi'],
  'science fiction': ['sci fi', 'scifi'],
  scifi: ['sci fi', 'science fiction'],
  romance: ['romantic'],
  romantic: ['romance'],
  animation: ['animated', 'cartoon'],
  cartoon: ['animation', 'animated'],
  documentary: ['docuseries', 'docs'],
  docuseries: ['documentary'],
  'stand up': ['standup'],
  kids: ['children', 'kid'],
  children: ['kids'],
  biography: ['biopic', 'biographical'],
  history: ['historical'],
  historical: ['history'],
  musical: ['music'],
  lgbtq: ['lgbt', 'queer'],
  faith: ['spirituality', 'religious'],
  independent: ['indie'],
  indie: ['independent'],
  sports: ['sport'],
  thriller: ['suspense'],
  war: ['military'],
};

/** Label words that say what a title is, not its genre: "movies" alone must not match "Horror Movies". */
const FORMAT_STEMS = new Set(['movi', 'film', 'tv', 'show', 'seri', 'featur', 'program', 'titl']);
/** Shortest common start for two different stems to count as one word ("romanc" and "romantic"). */
const MIN_SHARED_PREFIX = 5;
/** Labels returned for one word at most. */
const MAX_LABELS_PER_WORD = 20;

/** Catalog labels for each genre word, most used first, and the words that matched no label. */
export function resolveGenres(
  words: readonly string[],
  labels: readonly GenreLabel[],
): { labels: string[]; unresolved: string[] } {
  const found = new Set<string>();
  const unresolved: string[] = [];
  for (const word of words) {
    const matched = resolveGenre(word, labels);
    if (matched.length === 0) unresolved.push(word);
    for (const label of matched) found.add(label);
  }
  return { labels: [...found], unresolved };
}

/** The catalog labels one genre word means, most used first; none when nothing matches. */
export function resolveGenre(word: string, labels: readonly GenreLabel[]): string[] {
  const phrase = phraseOf(word);
  if (phrase === '') return [];
  const synonyms = wordEntry(SYNONYMS, phrase) ?? [];
  const alternatives = [phrase, ...synonyms].map((text) => text.split(' ').map(stem));
  const matches = labels.filter((entry) => {
    const labelStems = wordsOf(entry.label).map(stem);
    return alternatives.some((stems) => phraseMatches(stems, labelStems));
  });
  return matches
    .sort((a, b) => b.count - a.count || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0))
    .slice(0, MAX_LABELS_PER_WORD)
    .map((entry) => entry.label);
}

/**
 * The labels of the same genres as some labels, whatever the format they name: "TV Sci-Fi & Fantasy" is
 * kin to "Sci-Fi & Fantasy", "TV Horror" to "Horror Movies". What a series is like, in movies.
 */
export function kindredLabels(of: readonly string[], labels: readonly GenreLabel[]): string[] {
  const kin = new Set<string>();
  for (const label of of) {
    const words = wordsOf(label).filter((word) => !FORMAT_STEMS.has(stem(word)));
    for (const found of resolveGenre(words.join(' '), labels)) kin.add(found);
  }
  return [...kin];
}

/** Every word of the phrase is a word of the label, and the phrase is not only format words. */
function phraseMatches(phraseStems: readonly string[], labelStems: readonly string[]): boolean {
  if (phraseStems.length === 0 || phraseStems.every((entry) => FORMAT_STEMS.has(entry))) return false;
  return phraseStems.every((wanted) => labelStems.some((candidate) => sameWord(wanted, candidate)));
}

function sameWord(a: string, b: string): boolean {
  if (a === b) return true;
  const shorter = Math.min(a.length, b.length);
  if (shorter < MIN_SHARED_PREFIX) return false;
  let shared = 0;
  while (shared < shorter && a[shared] === b[shared]) shared++;
  // "documentari" and "document", "romanc" and "romantic"; not "anim" (anime) and "animation".
  return shared === shorter || shared >= Math.max(MIN_SHARED_PREFIX, Math.ceil(0.8 * shorter));
}

/** Lower-case words of a label or phrase: letters and digits, anything else separates ("Sci-Fi" is 2). */
function wordsOf(text: string): string[] {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/'s?(?![\p{L}\p{N}])/gu, '')
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

function phraseOf(text: string): string {
  return wordsOf(text).join(' ');
}

/** A light English stemmer: plurals and the y/ie endings ("comedies", "comedy", "movie", "movies"). */
export function stem(word: string): string {
  let w = word;
  if (w.length > 3 && w.endsWith('ies')) w = `${w.slice(0, -3)}i`;
  else if (w.length > 3 && w.endsWith('s') && !w.endsWith('ss') && !w.endsWith('us')) w = w.slice(0, -1);
  if (w.length > 3 && w.endsWith('y')) w = `${w.slice(0, -1)}i`;
  else if (w.length > 3 && w.endsWith('ie')) w = w.slice(0, -1);
  else if (w.length > 4 && w.endsWith('e')) w = w.slice(0, -1);
  return w;
}
