/**
 * The offline chat parser: a message in plain English ("something like Stranger Things but a movie, and not
 * horror") into a ChatQuery, with rules and word lists, no model. It reads, in this order, and blanks out
 * what each step used so that the next does not read it again: quoted titles and "like <title>" references,
 * maturity ratings, running times, years and decades, then word by word the types, genres, moods,
 * languages and audiences, with negations ("not horror", "nothing scary"); the words left over that mean
 * something become the semantic text. A follow-up message in a session ("make it shorter", "only movies")
 * refines the previous turn's query instead of starting again. Pure; never throws.
 */
import { maturityAge } from '../recommender/item-filters.ts';
import { type ChatQuery, chatQuerySchema, EMPTY_CHAT_QUERY } from './chat-query.ts';
import {
  AUDIENCE_WORDS,
  GENRE_WORDS,
  LANGUAGES,
  MOOD_WORDS,
  NEGATED_MOOD_EXCLUDES,
  TYPE_WORDS,
  wordEntry,
} from './chat-vocabulary.ts';

/** What the parser reads of an earlier turn of the session. */
export interface PreviousChatTurn {
  message: string;
  query: ChatQuery;
}

export interface RuleParserOptions {
  /** "Recent", "the last 5 years": counted back from this date (default: now). */
  now?: Date;
}

/** "Short" without a figure: a feature under this many minutes. */
export const SHORT_MAX_MINUTES = 100;
/** "Not too long". */
const NOT_LONG_MAX_MINUTES = 120;
/** "Recent": released this year or in the years before. */
export const RECENT_YEARS = 2;
/** "About 90 minutes": this share either side. */
const APPROXIMATE_SHARE = 0.15;
const MAX_MESSAGE_LENGTH = 2_000;
/**
 * Stands in for text a step has used: not a letter, digit or space, so no later pattern spans it. A Unicode
 * noncharacter, which no text should hold (the message's own are turned into spaces first).
 */
const BLANK = '\uffff';

/** The structured query a message asks for, refining the previous turn's when it reads as a follow-up. */
export function parseChatMessage(
  message: string,
  history: readonly PreviousChatTurn[] = [],
  options: RuleParserOptions = {},
): ChatQuery {
  try {
    const now = options.now ?? new Date();
    const parsed = parseAlone(message, now);
    const previous = history.at(-1)?.query;
    const query = previous && isFollowUp(parsed) ? refine(previous, parsed, now) : parsed.query;
    return bounded(query, message);
  } catch {
    // A rule that trips on some input must not cost the viewer an answer: search for the words instead.
    return bounded({ ...EMPTY_CHAT_QUERY, semanticText: message }, message);
  }
}

/** Comparative requests that only mean something against the previous turn. */
interface RelativeChanges {
  shorter: boolean;
  longer: boolean;
  newer: boolean;
  older: boolean;
}

interface ParsedMessage {
  query: ChatQuery;
  /** The message opens like a follow-up ("and", "but", "only", "make it", "what about"...). */
  followUpCue: boolean;
  relative: RelativeChanges;
}

const FOLLOW_UP_CUE =
  /^[^\p{L}\p{N}]*(?:and|but|also|now|ok|okay|hmm+|well|actually|then|so|same|instead|rather|only|just|maybe|even|without|no|not|nothing|less|more|fewer|shorter|longer|newer|older|something else|another|different|other|what about|how about|make (?:it|them|that|those)|can you make|i meant)(?![\p{L}\p{N}])/u;

function isFollowUp(parsed: ParsedMessage): boolean {
  // A message that names a title or a subject of its own starts a new search, unless it opens like a follow-up.
  return (
    parsed.followUpCue || (parsed.query.referenceTitles.length === 0 && parsed.query.semanticText === '')
  );
}

/** The previous query with what the follow-up changes: what it names replaces, exclusions add up. */
function refine(previous: ChatQuery, parsed: ParsedMessage, now: Date): ChatQuery {
  const next = parsed.query;
  const genres = next.genres.length > 0 ? next.genres : previous.genres;
  const excluded = unique([...previous.excludeGenres, ...next.excludeGenres]).filter(
    (genre) => !next.genres.includes(genre),
  );
  const query: ChatQuery = {
    semanticText: next.semanticText || previous.semanticText,
    referenceTitles: next.referenceTitles.length > 0 ? next.referenceTitles : previous.referenceTitles,
    types: next.types.length > 0 ? next.types : previous.types,
    genres: genres.filter((genre) => !next.excludeGenres.includes(genre)),
    excludeGenres: excluded,
    yearFrom: next.yearFrom ?? previous.yearFrom,
    yearTo: next.yearTo ?? previous.yearTo,
    maxMaturityRating: next.maxMaturityRating ?? previous.maxMaturityRating,
    minDurationMinutes: next.minDurationMinutes ?? previous.minDurationMinutes,
    maxDurationMinutes: next.maxDurationMinutes ?? previous.maxDurationMinutes,
    languages: next.languages.length > 0 ? next.languages : previous.languages,
    mood: next.mood ?? previous.mood,
  };
  // A new bound on one side drops an old one on the other side that it contradicts.
  if (next.yearFrom !== null && query.yearTo !== null && query.yearTo < next.yearFrom) query.yearTo = null;
  if (next.yearTo !== null && query.yearFrom !== null && query.yearFrom > next.yearTo) query.yearFrom = null;
  const { relative } = parsed;
  const year = now.getUTCFullYear();
  if (relative.shorter && next.maxDurationMinutes === null) {
    const current = previous.maxDurationMinutes;
    query.maxDurationMinutes =
      current === null ? SHORT_MAX_MINUTES : Math.max(10, Math.round(current * 0.75));
  }
  if (relative.longer && next.minDurationMinutes === null) {
    const current = previous.minDurationMinutes ?? previous.maxDurationMinutes;
    query.minDurationMinutes = current === null ? NOT_LONG_MAX_MINUTES : Math.round(current * 1.25);
    if (query.maxDurationMinutes !== null && query.maxDurationMinutes < query.minDurationMinutes)
      query.maxDurationMinutes = null;
  }
  if (relative.newer && next.yearFrom === null) {
    query.yearFrom = Math.min(year, (previous.yearFrom ?? previous.yearTo ?? year - 15) + 5);
    if (query.yearTo !== null && query.yearTo < query.yearFrom) query.yearTo = null;
  }
  if (relative.older && next.yearTo === null) {
    query.yearTo = (previous.yearTo ?? previous.yearFrom ?? year) - 10;
    if (query.yearFrom !== null && query.yearFrom > query.yearTo) query.yearFrom = null;
  }
  if (query.minDurationMinutes !== null && query.maxDurationMinutes !== null) {
    if (query.minDurationMinutes > query.maxDurationMinutes) query.minDurationMinutes = null;
  }
  return query;
}

/** The text being read: the message as written (titles keep their case) and in lower case, same length. */
class Text {
  original: string;
  lower: string;

  constructor(message: string) {
    const clean = message
      .slice(0, MAX_MESSAGE_LENGTH)
      .normalize('NFKC')
      .replace(/[\u2018\u2019\u02bc`]/g, "'")
      .replace(/[\u201c\u201d\u00ab\u00bb]/g, '"')
      .replace(/[\u2013\u2014]/g, '-')
      .replace(/[\s\p{Cc}\uffff]+/gu, ' ');
    this.original = clean;
    // Character by character, so that both strings keep the same length (some upper-case letters lower to two).
    this.lower = [...clean]
      .map((character) => {
        const lower = character.toLowerCase();
        return lower.length === character.length ? lower : character;
      })
      .join('');
  }

  /** Marks text as used. */
  blank(start: number, end: number) {
    const fill = BLANK.repeat(Math.max(0, end - start));
    this.original = this.original.slice(0, start) + fill + this.original.slice(end);
    this.lower = this.lower.slice(0, start) + fill + this.lower.slice(end);
  }

  /**
   * Each match of `pattern` (global) in the text as it is now; the ones `use` accepts are blanked. A match
   * over text that an earlier match of the same pattern blanked is skipped.
   */
  take(pattern: RegExp, use: (match: RegExpExecArray) => boolean) {
    const snapshot = this.lower;
    for (const match of snapshot.matchAll(pattern)) {
      const end = match.index + match[0].length;
      if (this.lower.slice(match.index, end).includes(BLANK)) continue;
      if (use(match)) this.blank(match.index, end);
    }
  }
}

// Word edges that know letters beyond ASCII ("été").
const B = '(?<![\\p{L}\\p{N}])';
const E = '(?![\\p{L}\\p{N}])';
const re = (source: string) => new RegExp(source, 'gu');

function parseAlone(message: string, now: Date): ParsedMessage {
  const text = new Text(message);
  const query: ChatQuery = structuredClone(EMPTY_CHAT_QUERY);
  const followUpCue = FOLLOW_UP_CUE.test(text.lower);
  const references: string[] = [];
  readQuotedTitles(text, references);
  readReferenceTitles(text, references);
  query.referenceTitles = references;
  const ratings = readRatings(text);
  readDurations(text, query);
  readYears(text, query, now);
  const words = readWords(text, query);
  const strictest = [...ratings, ...words.ratings]
    .filter((rating) => maturityAge(rating) !== undefined)
    .sort((a, b) => maturityAge(a)! - maturityAge(b)!)[0];
  query.maxMaturityRating = strictest ?? null;
  if (words.short && query.maxDurationMinutes === null) query.maxDurationMinutes = SHORT_MAX_MINUTES;
  if (words.recent && query.yearFrom === null) query.yearFrom = now.getUTCFullYear() - RECENT_YEARS;
  return { query, followUpCue, relative: words.relative };
}

// ---------------------------------------------------------------------------------------------------------
// Reference titles

const QUOTED = /"([^"\uffff]{1,200})"/g;

function readQuotedTitles(text: Text, references: string[]) {
  text.take(QUOTED, (match) => {
    const title = text.original.slice(match.index + 1, match.index + match[0].length - 1).trim();
    if (!looksLikeTitle(title, true)) return false;
    references.push(title);
    return true;
  });
}

const REFERENCE_CUE = re(
  `${B}(?:(?:something|anything|stuff|more|one|ones)\\s+)?` +
    '(?:like|similar to|such as|in the (?:vein|style|spirit) of|along the lines of|reminiscent of|' +
    'comparable to|a la|à la|same vibe as|as good as|if i (?:liked|loved|enjoyed)|fans? of|' +
    `(?:i|we) (?:really |also )?(?:liked|loved|enjoyed|adored|like|love))\\s+(?=[^\\s${BLANK}])`,
);
// Where a title that follows "like" ends: punctuation, or a word that starts another part of the request.
const LANGUAGE_ALTERNATION = LANGUAGES.flatMap((language) => language.words).join('|');
const TITLE_END = re(
  `\\s*(?:[,;!?()\\[\\]"${BLANK}]|(?<!(?<![\\p{L}])(?:mr|mrs|ms|dr|st|jr|sr|vs|vol))\\.)|\\s+-\\s|\\s+(?:but|and not|and no|and nothing|and without|and from|and under|` +
    'without|except|excluding|though|although|however|only|please|that|which|who|whose|where|with no|with(?:out)? any|' +
    'or something|or anything|or similar|from the|released|made in|before|after|' +
    'since|between|under|less than|shorter than|over|more than|longer than|at least|at most|rated|' +
    'for (?:kids|children|the family|family|teens|teenagers|adults|my|our|a|an|tonight|date night)|' +
    `in (?:${LANGUAGE_ALTERNATION})|(?:${LANGUAGE_ALTERNATION})[ -]language|set in|not|no|nothing|instead|tonight|` +
    `today|this weekend|to watch)${E}|\\s+(?:from|in the|in) (?=\\d)|\\s*$`,
);
/** "I'd like", "would like", "feel like", "don't like": the verb, not a comparison. */
const LIKE_AS_VERB = /(?:would|'d|feel|feels|felt|n't|dont|do not|not)\s*$/;
const LEADING_TYPE = /^(?:the )?(?:movie|film|show|series|tv show)\s+/i;
const TRAILING_TYPE = /\s+(?:movie|movies|film|films|show|shows|series|tv show|one)$/i;
const MAX_TITLE_WORDS = 12;

function readReferenceTitles(text: Text, references: string[]) {
  text.take(REFERENCE_CUE, (match) => {
    const cue = match[0].toLowerCase();
    const before = text.lower.slice(Math.max(0, match.index - 12), match.index);
    if (
      /^(?:something |anything |stuff )?like/.test(cue) &&
      !/^(?:i|we) /.test(cue) &&
      LIKE_AS_VERB.test(before)
    )
      return false;
    const start = match.index + match[0].length;
    const end = titleEnd(text.lower, start);
    const raw = text.original.slice(start, end).trim();
    const titles = raw
      .split(/\s+or\s+|\s*\/\s*/i)
      .map((title) => title.replace(LEADING_TYPE, '').replace(TRAILING_TYPE, '').trim())
      .filter((title) => looksLikeTitle(title, false));
    if (titles.length === 0) return false;
    references.push(...titles);
    text.blank(match.index, end);
    return false;
  });
}

function titleEnd(lower: string, start: number): number {
  TITLE_END.lastIndex = start;
  for (;;) {
    const found = TITLE_END.exec(lower);
    if (!found) return lower.length;
    if (found.index >= start) return found.index;
  }
}

/** A title names something: not only words the parser knows ("like a funny movie", "like this"). */
function looksLikeTitle(title: string, quoted: boolean): boolean {
  const words = title.split(/[^\p{L}\p{N}']+/u).filter(Boolean);
  if (words.length === 0 || words.length > MAX_TITLE_WORDS || title.length > 200) return false;
  if (quoted) return true;
  const unknown = words.some((word) => !KNOWN_WORDS.has(word.toLowerCase()));
  // A capitalised word mid-sentence is a name even when it is also a word we know ("like Dark").
  return unknown || /^\p{Lu}/u.test(title);
}

// ---------------------------------------------------------------------------------------------------------
// Maturity ratings, running times, years

const RATING = 'nc-17|pg-13|tv-ma|tv-14|tv-pg|tv-g|tv-y7-fv|tv-y7|tv-y|pg';
const RATING_PATTERN = re(
  `${B}(not |no |nothing |non-?)?(?:(?:rated|under|below|up to|at most|max|no higher than) )?(?:rated )?` +
    `(?:(${RATING})|rated (g|r)|(g|r)-rated)(?: rated| or (?:below|less|lower|under))?${E}`,
);
/** The highest rating that "not R" still allows. */
const BELOW: Readonly<Record<string, string>> = {
  'NC-17': 'R',
  R: 'PG-13',
  'PG-13': 'PG',
  PG: 'G',
  'TV-MA': 'TV-14',
  'TV-14': 'TV-PG',
  'TV-PG': 'TV-G',
};

function readRatings(text: Text): string[] {
  const ratings: string[] = [];
  text.take(RATING_PATTERN, (match) => {
    const rating = (match[2] ?? match[3] ?? match[4] ?? '').toUpperCase();
    if (!rating) return false;
    if (match[1]) {
      const below = wordEntry(BELOW, rating);
      if (below) ratings.push(below);
    } else ratings.push(rating);
    return true;
  });
  return ratings;
}

const NUMBER_WORDS: Readonly<Record<string, number>> = {
  a: 1,
  an: 1,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12,
  fifteen: 15,
  twenty: 20,
  thirty: 30,
  forty: 40,
  'forty five': 45,
  'forty-five': 45,
  fifty: 50,
  sixty: 60,
  seventy: 70,
  eighty: 80,
  ninety: 90,
};
const NUMBER = `(?:\\d{1,4}(?:[.,]\\d+)?|${Object.keys(NUMBER_WORDS)
  .sort((a, b) => b.length - a.length)
  .join('|')})`;
const HOURS = '(?:h|hr|hrs|hours?)';
const MINUTES = '(?:m|min|mins|minutes?)';
const DURATION =
  `(?:an hour and a half|one and a half hours?|half an hour|${NUMBER}\\s*-?\\s*${HOURS}` +
  `(?:\\s*(?:and\\s+)?(?:a half|\\d{1,2}\\s*(?:${MINUTES})?))?|${NUMBER}\\s*-?\\s*${MINUTES})`;
const AT_MOST =
  '(?:under|less than|shorter than|below|at most|max(?:imum)?(?: of)?|no (?:longer|more) than|' +
  'not (?:longer|more) than|not over|within|up to|fewer than|i (?:only )?have|i(?:\\s?\\x27ve| have) got|' +
  'we (?:only )?have|only have|got)';
const AT_LEAST =
  '(?:over|more than|longer than|at least|min(?:imum)?(?: of)?|above|no (?:shorter|less) than|not (?:shorter|less) than)';
const ABOUT = '(?:around|about|roughly|approximately|approx|circa|close to|~)';
const DURATION_PATTERN = re(
  `${B}(?:(${AT_MOST})|(${AT_LEAST})|(${ABOUT}))?\\s*(${DURATION})` +
    `(?:\\s+(or (?:less|shorter|under|fewer)|tops|max(?:imum)?|or (?:more|longer)|min(?:imum)?|or so))?${E}`,
);
const NOT_LONG = re(`${B}not (?:too |very |so |that )?long${E}`);

function readDurations(text: Text, query: ChatQuery) {
  text.take(NOT_LONG, () => {
    query.maxDurationMinutes ??= NOT_LONG_MAX_MINUTES;
    return true;
  });
  text.take(DURATION_PATTERN, (match) => {
    const minutes = durationMinutes(match[4]!);
    if (minutes === undefined || minutes <= 0) return false;
    const after = match[5] ?? '';
    if (match[1] || /less|shorter|under|fewer|tops|max/.test(after)) query.maxDurationMinutes = minutes;
    else if (match[2] || /more|longer|min/.test(after)) query.minDurationMinutes = minutes;
    else {
      query.minDurationMinutes = Math.round(minutes * (1 - APPROXIMATE_SHARE));
      query.maxDurationMinutes = Math.round(minutes * (1 + APPROXIMATE_SHARE));
    }
    return true;
  });
}

function durationMinutes(phrase: string): number | undefined {
  const text = phrase.replace(/\s+/g, ' ').trim();
  if (/^(?:an hour and a half|one and a half hours?)$/.test(text)) return 90;
  if (text === 'half an hour') return 30;
  const match = new RegExp(
    `^(${NUMBER})\\s*-?\\s*(${HOURS}|${MINUTES})(?:\\s*(?:and\\s+)?(a half|\\d{1,2})\\s*(?:${MINUTES})?)?$`,
    'u',
  ).exec(text);
  if (!match) return undefined;
  const amount = numberValue(match[1]!);
  if (amount === undefined) return undefined;
  const hours = /^h/.test(match[2]!);
  const extra = match[3] === 'a half' ? 30 : match[3] ? Number(match[3]) : 0;
  return Math.round(hours ? amount * 60 + extra : amount);
}

function numberValue(word: string): number | undefined {
  if (/^\d/.test(word)) return Number(word.replace(',', '.'));
  return wordEntry(NUMBER_WORDS, word);
}

const YEAR = '(1[89]\\d\\d|20\\d\\d|21\\d\\d)';
const DECADE_WORDS: Readonly<Record<string, number>> = {
  twenties: 1920,
  thirties: 1930,
  forties: 1940,
  fifties: 1950,
  sixties: 1960,
  seventies: 1970,
  eighties: 1980,
  nineties: 1990,
  noughties: 2000,
};
const DECADE = re(
  `${B}(before|until|after|since|pre|post)?\\s*(?:the\\s+)?(?:(early|mid|late)[\\s-]+)?` +
    `(?:(19|20)?(\\d)0'?s|(${Object.keys(DECADE_WORDS).join('|')}))${E}`,
);
const YEAR_RANGE = re(`${B}(?:between|from)?\\s*${YEAR}\\s*(?:and|to|-|until|till|through)\\s*${YEAR}${E}`);
const LAST_YEARS = re(
  `${B}(?:from |in |over )?(?:the )?(?:last|past)\\s+(\\d{1,2}|two|three|four|five|six|seven|eight|nine|ten|few|couple of)\\s+years${E}`,
);
const YEAR_FROM = re(
  `${B}(?:(after|post|newer than)|since|from|starting (?:in|from))\\s+${YEAR}(\\s*(?:on(?:wards?)?|and (?:later|after|newer|up)|or (?:later|after|newer)|\\+))?|` +
    `${B}${YEAR}\\s*(?:\\+|or (?:later|newer|after)|and (?:later|newer|after|up)|onwards?)`,
);
const YEAR_TO = re(
  `${B}(?:(before|pre|older than)|until|till|up to|through)\\s+${YEAR}${E}|${B}${YEAR}\\s+or (?:earlier|before|older)${E}`,
);
const SINGLE_YEAR = re(`${B}${YEAR}${E}`);
const THIS_YEAR = re(`${B}(this|last) year${E}`);

function readYears(text: Text, query: ChatQuery, now: Date) {
  const year = now.getUTCFullYear();
  text.take(YEAR_RANGE, (match) => {
    const [a, b] = [Number(match[1]), Number(match[2])];
    query.yearFrom = Math.min(a, b);
    query.yearTo = Math.max(a, b);
    return true;
  });
  text.take(DECADE, (match) => {
    const start = match[5]
      ? DECADE_WORDS[match[5]]!
      : match[3]
        ? Number(`${match[3]}${match[4]}0`)
        : Number(match[4]) >= 3
          ? 1900 + Number(match[4]) * 10
          : 2000 + Number(match[4]) * 10;
    const part = match[2];
    const from = start + (part === 'mid' ? 3 : part === 'late' ? 6 : 0);
    const to = start + (part === 'early' ? 3 : part === 'mid' ? 6 : 9);
    const direction = match[1];
    if (direction === 'before' || direction === 'pre') query.yearTo = start - 1;
    else if (direction === 'until') query.yearTo = to;
    else if (direction === 'after' || direction === 'post') query.yearFrom = start + 10;
    else if (direction === 'since') query.yearFrom = from;
    else {
      query.yearFrom = from;
      query.yearTo = to;
    }
    return true;
  });
  text.take(LAST_YEARS, (match) => {
    const word = match[1]!;
    const count = /^\d/.test(word)
      ? Number(word)
      : word === 'few'
        ? 3
        : word === 'couple of'
          ? 2
          : wordEntry(NUMBER_WORDS, word);
    if (count === undefined) return false;
    query.yearFrom = year - count;
    return true;
  });
  text.take(THIS_YEAR, (match) => {
    const which = match[1] === 'this' ? year : year - 1;
    query.yearFrom = which;
    query.yearTo = which;
    return true;
  });
  text.take(YEAR_FROM, (match) => {
    const value = Number(match[2] ?? match[4]);
    query.yearFrom = match[1] ? value + 1 : value;
    // "Movies from 2015" were released in 2015; "from 2015 on" is open-ended.
    if (/^from /.test(match[0]) && !match[3]) query.yearTo = value;
    return true;
  });
  text.take(YEAR_TO, (match) => {
    const value = Number(match[2] ?? match[3]);
    query.yearTo = match[1] ? value - 1 : value;
    return true;
  });
  text.take(SINGLE_YEAR, (match) => {
    const value = Number(match[1]);
    query.yearFrom = value;
    query.yearTo = value;
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Words: types, genres, moods, languages, audiences, negations

type WordMeaning =
  | { kind: 'type'; type: string }
  | { kind: 'genre'; genre: string }
  | { kind: 'mood'; mood: string }
  | { kind: 'language'; tag: string }
  | { kind: 'audience'; rating: string }
  | { kind: 'negation' }
  | { kind: 'short' }
  | { kind: 'recent' }
  | { kind: 'relative'; change: keyof RelativeChanges }
  /** Words that look like others but mean nothing here ("show me" is not a TV show). */
  | { kind: 'filler' };

const NEGATIONS = [
  'not',
  'no',
  'without',
  'nothing',
  'none',
  'non',
  'avoid',
  'except',
  'excluding',
  'exclude',
  'skip',
  'minus',
  'never',
  'hate',
  "don't",
  'dont',
  "isn't",
  "aren't",
  "doesn't",
  "won't",
];
/** Words a negation may reach over before what it negates ("nothing too scary", "not a horror movie"). */
const NEGATION_FILLERS = new Set([
  'a',
  'an',
  'the',
  'any',
  'too',
  'very',
  'so',
  'really',
  'overly',
  'more',
  'much',
  'kind',
  'sort',
  'type',
  'of',
  'that',
  'is',
  'are',
  'be',
  'like',
  'want',
  'in',
  'for',
  'with',
  'at',
  'all',
  'anything',
  'something',
  'stuff',
]);
/**
 * Words that carry a negation on to what follows: "or", "nor" and commas to the next genre or mood ("nothing
 * scary or violent"), "and" to the next genre only ("no horror and romance", but "not horror and funny").
 */
const NEGATION_JOINERS = new Set(['or', 'and', 'nor', ',']);

const MEANINGS: ReadonlyMap<string, readonly WordMeaning[]> = (() => {
  const meanings = new Map<string, WordMeaning[]>();
  const add = (phrase: string, meaning: WordMeaning) => {
    const list = meanings.get(phrase) ?? [];
    list.push(meaning);
    meanings.set(phrase, list);
  };
  for (const [phrase, type] of Object.entries(TYPE_WORDS)) add(phrase, { kind: 'type', type });
  for (const [phrase, genres] of Object.entries(GENRE_WORDS))
    for (const genre of genres) add(phrase, { kind: 'genre', genre });
  for (const [phrase, mood] of Object.entries(MOOD_WORDS)) add(phrase, { kind: 'mood', mood });
  for (const language of LANGUAGES)
    for (const word of language.words) add(word, { kind: 'language', tag: language.tag });
  for (const [phrase, rating] of Object.entries(AUDIENCE_WORDS)) add(phrase, { kind: 'audience', rating });
  for (const word of NEGATIONS) add(word, { kind: 'negation' });
  for (const word of ['short', 'shortish', 'brief']) add(word, { kind: 'short' });
  for (const phrase of [
    'recent',
    'latest',
    'newest',
    'brand new',
    'new release',
    'new releases',
    'just released',
  ])
    add(phrase, { kind: 'recent' });
  add('shorter', { kind: 'relative', change: 'shorter' });
  add('longer', { kind: 'relative', change: 'longer' });
  add('newer', { kind: 'relative', change: 'newer' });
  add('more recent', { kind: 'relative', change: 'newer' });
  add('older', { kind: 'relative', change: 'older' });
  for (const phrase of ['show me', 'show us', 'a show of']) add(phrase, { kind: 'filler' });
  return meanings;
})();
const LONGEST_PHRASE = Math.max(...[...MEANINGS.keys()].map((phrase) => phrase.split(' ').length));

/** Words with no meaning of their own in a request: left out of the semantic text. */
const STOP_WORDS = new Set(
  (
    "a an the some something anything stuff thing things me my i i'm im i'd i've we we're us our you your it " +
    "it's its this that these those there here is are was were be been being am do does did have has had get got " +
    'want wanna would could should can may might will shall like love liked loved enjoy enjoyed find recommend ' +
    "suggest suggestion suggestions give show tell let lets let's looking look see watch watching watched stream " +
    'tonight today now weekend evening night please pls thanks thank hi hello hey ok okay well just only also too ' +
    'very really quite pretty maybe perhaps good great nice best top cool awesome decent fine which what who whom ' +
    'whose how where when why with about of in on at to for from by into onto over under and or but so then than ' +
    'as if because while some any one ones other others else another more most less least few many much kind sort ' +
    'type types same similar different again instead rather either neither both all every each make made making ' +
    "need needs mood feel feeling feels something's ones anything's idea ideas option options pick picks choose " +
    'language languages speaking spoken audio dubbed subtitles subtitled rated rating friendly version title ' +
    'titles new old even bit little lot slightly somewhat way'
  ).split(' '),
);

/** Every word the parser knows: a "title" made only of these is not one ("like a funny movie"). */
const KNOWN_WORDS: ReadonlySet<string> = new Set([
  ...STOP_WORDS,
  ...[...MEANINGS.keys()].flatMap((phrase) => phrase.split(' ')),
]);

interface Token {
  word: string;
  /** Text blanked out before this token (a title, a year...): negations and phrases stop there. */
  afterBlank: boolean;
}

function tokensOf(lower: string): Token[] {
  const tokens: Token[] = [];
  let afterBlank = false;
  for (const match of lower.matchAll(/[\p{L}\p{N}]+(?:'[\p{L}]+)?|,|\uffff+/gu)) {
    if (match[0].startsWith(BLANK)) {
      afterBlank = true;
      continue;
    }
    tokens.push({ word: match[0], afterBlank });
    afterBlank = false;
  }
  return tokens;
}

interface WordsRead {
  ratings: string[];
  short: boolean;
  recent: boolean;
  relative: RelativeChanges;
}

function readWords(text: Text, query: ChatQuery): WordsRead {
  const tokens = tokensOf(text.lower);
  const read: WordsRead = {
    ratings: [],
    short: false,
    recent: false,
    relative: { shorter: false, longer: false, newer: false, older: false },
  };
  const moods: string[] = [];
  const leftover: string[] = [];
  // An open negation: the filler words it may still reach over, how many things it negated, and the joiner
  // read since the last of them (without one, a negation does not reach the next word: "non-horror sci-fi").
  let negation: { fillers: number; negated: number; joined: 'any' | 'genre' | undefined } | undefined;

  for (let at = 0; at < tokens.length;) {
    const token = tokens[at]!;
    if (token.afterBlank) negation = undefined;
    const found = phraseAt(tokens, at);
    if (!found) {
      const word = token.word;
      if (negation && negation.negated === 0 && NEGATION_FILLERS.has(word) && negation.fillers-- > 0) {
        at++;
        continue;
      }
      if (negation && negation.negated > 0 && NEGATION_JOINERS.has(word)) {
        negation.joined = word === 'and' ? 'genre' : 'any';
        at++;
        continue;
      }
      negation = undefined;
      if (word !== ',' && !STOP_WORDS.has(word) && !/^\d+$/.test(word)) leftover.push(word);
      at++;
      continue;
    }
    at += found.length;
    const meanings = found.meanings;
    if (meanings.some((meaning) => meaning.kind === 'negation')) {
      negation = { fillers: 4, negated: 0, joined: undefined };
      continue;
    }
    if (negation) {
      const open = negation;
      const reaches = (kind: 'genre' | 'other') =>
        open.negated === 0 || open.joined === 'any' || (open.joined === 'genre' && kind === 'genre');
      const negated = () => {
        open.negated++;
        open.joined = undefined;
      };
      const genres = meanings.flatMap((meaning) => (meaning.kind === 'genre' ? [meaning.genre] : []));
      const mood = meanings.find((meaning) => meaning.kind === 'mood');
      const audience = meanings.find((meaning) => meaning.kind === 'audience');
      if (genres.length > 0 && reaches('genre')) {
        query.excludeGenres.push(...genres);
        negated();
        continue;
      }
      if (mood && reaches('other')) {
        query.excludeGenres.push(...(wordEntry(NEGATED_MOOD_EXCLUDES, mood.mood) ?? []));
        negated();
        continue;
      }
      if (audience && reaches('other')) {
        // "Not for kids": no children's titles (rather than a rating, which cannot say "above").
        if (audience.rating !== 'PG-13') query.excludeGenres.push('kids');
        negated();
        continue;
      }
      // "Not horror movies": the type word belongs to what was negated.
      if (open.negated > 0 && meanings.every((meaning) => meaning.kind === 'type')) continue;
      if (
        open.negated === 0 &&
        meanings.some((meaning) => meaning.kind === 'type' || meaning.kind === 'language')
      ) {
        // "Not a series", "not in English": nothing a query can hold says that; the words are ignored.
        negated();
        continue;
      }
      negation = undefined;
    }
    for (const meaning of meanings) {
      switch (meaning.kind) {
        case 'type':
          query.types.push(meaning.type);
          break;
        case 'genre':
          query.genres.push(meaning.genre);
          break;
        case 'mood':
          moods.push(meaning.mood);
          break;
        case 'language':
          query.languages.push(meaning.tag);
          break;
        case 'audience':
          read.ratings.push(meaning.rating);
          break;
        case 'short':
          read.short = true;
          break;
        case 'recent':
          read.recent = true;
          break;
        case 'relative':
          read.relative[meaning.change] = true;
          break;
        case 'negation':
        case 'filler':
          break;
      }
    }
  }
  query.types = unique(query.types);
  query.excludeGenres = unique(query.excludeGenres);
  query.genres = unique(query.genres).filter((genre) => !query.excludeGenres.includes(genre));
  query.languages = unique(query.languages);
  query.mood = moods.length > 0 ? unique(moods).slice(0, 3).join(' and ') : null;
  query.semanticText = unique(leftover).join(' ');
  return read;
}

/** The longest known phrase starting at token `at` (not across blanked text or commas). */
function phraseAt(
  tokens: readonly Token[],
  at: number,
): { length: number; meanings: readonly WordMeaning[] } | undefined {
  for (let length = Math.min(LONGEST_PHRASE, tokens.length - at); length >= 1; length--) {
    const part = tokens.slice(at, at + length);
    if (part.some((token, index) => token.word === ',' || (index > 0 && token.afterBlank))) continue;
    const meanings = MEANINGS.get(part.map((token) => token.word).join(' '));
    if (meanings) return { length, meanings };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

/** The query within the schema's limits (a long message can name more than a query holds). */
function bounded(query: ChatQuery, message: string): ChatQuery {
  const cut = (value: string, max: number) => value.slice(0, max).trim();
  const list = (values: readonly string[], count: number, max: number) =>
    unique(values.map((value) => cut(value, max)).filter(Boolean)).slice(0, count);
  const year = (value: number | null) =>
    value === null || !Number.isInteger(value) || value < 1800 || value > 2200 ? null : value;
  const minutes = (value: number | null) =>
    value === null || !Number.isFinite(value) ? null : Math.min(10_000, Math.max(0, Math.round(value)));
  const candidate: ChatQuery = {
    semanticText: cut(query.semanticText, 300),
    referenceTitles: list(query.referenceTitles, 5, 200),
    types: list(query.types, 5, 32),
    genres: list(query.genres, 10, 64),
    excludeGenres: list(query.excludeGenres, 10, 64),
    yearFrom: year(query.yearFrom),
    yearTo: year(query.yearTo),
    maxMaturityRating: query.maxMaturityRating === null ? null : cut(query.maxMaturityRating, 16) || null,
    minDurationMinutes: minutes(query.minDurationMinutes),
    maxDurationMinutes: minutes(query.maxDurationMinutes),
    languages: list(query.languages, 5, 35),
    mood: query.mood === null ? null : cut(query.mood, 60) || null,
  };
  const checked = chatQuerySchema.safeParse(candidate);
  return checked.success
    ? checked.data
    : { ...EMPTY_CHAT_QUERY, semanticText: cut(message.replace(/\s+/g, ' '), 300) };
}
