/**
 * The offline chat reply: a few sentences that say what was understood and which items lead the answer
 * ('Here are 10 movies like Stranger Things, without horror: "X", "Y" and "Z" lead the list.'), or, when
 * nothing matched, which constraint to loosen. The only titles it quotes are those of the returned items;
 * the titles the viewer named are echoed unquoted, as part of what they asked. It repeats only plain text:
 * the query's words pass the output filter (src/llm/output-filter.ts), since a model or a viewer may have
 * written them, and a catalog title with markup or an invisible character is not quoted. English and
 * French. Pure.
 */
import { characterProblem, checkModelText } from '../llm/output-filter.ts';
import { maturityAge } from '../recommender/item-filters.ts';
import { type ChatQuery, plainChatQuery } from './chat-query.ts';
import type { ChatReplyContext } from './chat-strategies.ts';
import { languageOf, TYPE_NOUNS, wordEntry } from './chat-vocabulary.ts';

/** Titles the first sentence quotes: three read as a list, more as a catalogue. */
const LEADING_TITLES = 3;
/** A title or search text longer than this is cut, so one long title cannot make the reply a wall. */
const MAX_QUOTED_LENGTH = 80;
/** Semantic text echoed in the reply up to this length; longer, the reply leaves it out. */
const MAX_ECHOED_TEXT = 60;
/** A title the viewer named that is longer than this is not a title: the reply does not repeat it. */
const MAX_UNRESOLVED_LENGTH = 200;

/** What the reply needs of the turn. */
export type TemplateReplyInput = Pick<
  ChatReplyContext,
  'query' | 'items' | 'references' | 'unresolvedReferences' | 'limit' | 'requestFilters' | 'locale'
>;

/** The reply, sentence by sentence. */
export function writeTemplateReply(input: TemplateReplyInput): string[] {
  const book = input.locale === 'fr' ? french : english;
  const query = plainChatQuery(input.query);
  const count = input.items.length;
  const titles = input.items
    .map((entry) => entry.item.title)
    .filter(quotable)
    .map(clip);
  const references = input.references
    .map((reference) => reference.title)
    .filter(quotable)
    .map(clip);
  const sentences: string[] = [];
  const missing = input.unresolvedReferences
    .filter((title) => checkModelText(title, { maxLength: MAX_UNRESOLVED_LENGTH }).ok)
    .map(clip);
  if (missing.length > 0) sentences.push(book.notFound(missing, count > 0));
  if (count === 0) {
    sentences.push(book.nothing(query, references));
    sentences.push(book.suggest(suggestionsFor(query, input.requestFilters)));
    return sentences;
  }
  sentences.push(book.found(query, references, count, titles, count < input.limit));
  return sentences;
}

/** Whether a catalog title can be quoted: catalog text, but no markup or character that hides or reorders. */
function quotable(title: string): boolean {
  return (
    characterProblem(title) === undefined && !/[<>]/.test(title.normalize('NFKC')) && title.trim() !== ''
  );
}

type Suggestion =
  'duration' | 'years' | 'maturity' | 'language' | 'genres' | 'exclusions' | 'types' | 'filters' | 'rephrase';

/** What to loosen, most likely culprit first: the narrowest constraints of the query, then the page's. */
function suggestionsFor(
  query: ChatQuery,
  requestFilters: TemplateReplyInput['requestFilters'],
): { kinds: Suggestion[]; excluded: string[] } {
  const kinds: Suggestion[] = [];
  if (query.minDurationMinutes !== null || query.maxDurationMinutes !== null) kinds.push('duration');
  if (query.yearFrom !== null || query.yearTo !== null) kinds.push('years');
  if (query.maxMaturityRating !== null) kinds.push('maturity');
  if (query.languages.length > 0) kinds.push('language');
  if (query.genres.length > 0) kinds.push('genres');
  if (query.excludeGenres.length > 0) kinds.push('exclusions');
  if (query.types.length > 0) kinds.push('types');
  if (Object.values(requestFilters).some((value) => value !== undefined)) kinds.push('filters');
  if (kinds.length === 0) kinds.push('rephrase');
  return { kinds: kinds.slice(0, 2), excluded: query.excludeGenres };
}

interface Phrasebook {
  /** `count` items were found; `titles` are those of them that can be quoted, in order. */
  found(query: ChatQuery, references: string[], count: number, titles: string[], fewer: boolean): string;
  nothing(query: ChatQuery, references: string[]): string;
  notFound(titles: string[], someFound: boolean): string;
  suggest(suggestions: { kinds: Suggestion[]; excluded: string[] }): string;
}

const english: Phrasebook = (() => {
  const and = (words: readonly string[], joiner = 'and') =>
    words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} ${joiner} ${words.at(-1)}`;
  const quoted = (titles: readonly string[]) => and(titles.map((title) => `"${title}"`));
  const noun = (query: ChatQuery, plural: boolean) =>
    (nounsOf(query)?.en ?? ['title', 'titles'])[plural ? 1 : 0];
  const minutes = (value: number) => {
    if (value < 60 || value % 60 !== 0) {
      const hours = Math.floor(value / 60);
      return hours === 0 ? `${value} minutes` : `${hours} h ${String(value % 60).padStart(2, '0')}`;
    }
    const hours = value / 60;
    return `${hours} ${hours === 1 ? 'hour' : 'hours'}`;
  };
  const describe = (query: ChatQuery, references: string[], plural: boolean) => {
    const head = [query.mood, and(query.genres), noun(query, plural)].filter(Boolean).join(' ');
    // What narrows the noun itself reads without commas ("movies like X in French"), the rest after them.
    const close: string[] = [];
    if (references.length > 0) close.push(`like ${and(references)}`);
    if (query.semanticText && query.semanticText.length <= MAX_ECHOED_TEXT)
      close.push(`matching \u201c${query.semanticText}\u201d`);
    const languages = query.languages.map((tag) => languageOf(tag)?.name.en ?? tag);
    if (languages.length > 0) close.push(`in ${and(languages, 'or')}`);
    const parts: string[] = [];
    const { yearFrom: from, yearTo: to } = query;
    if (from !== null && to !== null)
      parts.push(
        from === to
          ? `from ${from}`
          : from % 10 === 0 && to === from + 9
            ? `from the ${from}s`
            : `from ${from} to ${to}`,
      );
    else if (from !== null) parts.push(`from ${from} on`);
    else if (to !== null) parts.push(`up to ${to}`);
    const { minDurationMinutes: min, maxDurationMinutes: max } = query;
    if (min !== null && max !== null) parts.push(`running ${minutes(min)} to ${minutes(max)}`);
    else if (max !== null) parts.push(`under ${minutes(max)}`);
    else if (min !== null) parts.push(`over ${minutes(min)}`);
    if (query.maxMaturityRating !== null) parts.push(audience(query.maxMaturityRating));
    if (query.excludeGenres.length > 0) parts.push(`without ${and(query.excludeGenres, 'or')}`);
    return `${[head, ...close].join(' ')}${parts.map((part) => `, ${part}`).join('')}`;
  };
  const audience = (rating: string) => {
    const age = maturityAge(rating) ?? 18;
    if (age <= 7) return 'for kids';
    if (age <= 10) return 'for the whole family';
    if (age <= 13) return 'for teens and up';
    return `rated ${rating} or lower`;
  };
  const SUGGESTIONS: Record<Suggestion, (excluded: string[]) => string> = {
    duration: () => 'dropping the running time',
    years: () => 'widening the years',
    maturity: () => 'a less strict age rating',
    language: () => 'another language',
    genres: () => 'fewer genres',
    exclusions: (excluded) => `allowing ${and(excluded, 'or')}`,
    types: () => 'other kinds of titles',
    filters: () => "loosening this page's filters",
    rephrase: () => 'other words, or a title you like',
  };
  return {
    found(query, references, count, titles, fewer) {
      const top = titles.slice(0, LEADING_TITLES);
      if (count === 1) {
        const lead = `${fewer ? 'I found only one' : 'Here is one'} ${describe(query, references, false)}`;
        return top.length === 0 ? `${lead}.` : `${lead}: ${quoted(top)}.`;
      }
      const lead = `${fewer ? 'I found only' : 'Here are'} ${count} ${describe(query, references, true)}`;
      if (top.length === 0) return `${lead}.`;
      return count >= LEADING_TITLES ? `${lead}: ${quoted(top)} lead the list.` : `${lead}: ${quoted(top)}.`;
    },
    nothing: (query, references) => `I found no ${describe(query, references, true)}.`,
    notFound: (titles, someFound) =>
      `I could not find ${and(titles, 'or')} in the catalog${someFound ? ', so these follow the rest of your request' : ''}.`,
    suggest: ({ kinds, excluded }) =>
      `Try ${and(
        kinds.map((kind) => SUGGESTIONS[kind](excluded)),
        'or',
      )}.`,
  };
})();

const french: Phrasebook = (() => {
  const and = (words: readonly string[], joiner = 'et') =>
    words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} ${joiner} ${words.at(-1)}`;
  const quoted = (titles: readonly string[]) =>
    and(titles.map((title) => `\u00ab\u00a0${title}\u00a0\u00bb`));
  const noun = (query: ChatQuery) => (nounsOf(query)?.fr ?? ['titre', 'titres'])[1];
  const minutes = (value: number) => {
    if (value < 60 || value % 60 !== 0) {
      const hours = Math.floor(value / 60);
      return hours === 0 ? `${value} minutes` : `${hours} h ${String(value % 60).padStart(2, '0')}`;
    }
    const hours = value / 60;
    return `${hours} ${hours === 1 ? 'heure' : 'heures'}`;
  };
  const describe = (query: ChatQuery, references: string[]) => {
    const parts: string[] = [];
    if (query.genres.length > 0) parts.push(`de genre ${and(query.genres)}`);
    if (query.mood) parts.push(`à l\u2019ambiance ${query.mood}`);
    if (references.length > 0) parts.push(`dans l\u2019esprit de ${and(references)}`);
    if (query.semanticText && query.semanticText.length <= MAX_ECHOED_TEXT)
      parts.push(`autour de \u201c${query.semanticText}\u201d`);
    const languages = query.languages.map((tag) => languageOf(tag)?.name.fr ?? tag);
    if (languages.length > 0) parts.push(`en ${and(languages, 'ou')}`);
    const { yearFrom: from, yearTo: to } = query;
    if (from !== null && to !== null)
      parts.push(
        from === to
          ? `de ${from}`
          : from % 10 === 0 && to === from + 9
            ? `des années ${from}`
            : `de ${from} à ${to}`,
      );
    else if (from !== null) parts.push(`à partir de ${from}`);
    else if (to !== null) parts.push(`jusqu\u2019à ${to}`);
    const { minDurationMinutes: min, maxDurationMinutes: max } = query;
    if (min !== null && max !== null) parts.push(`de ${minutes(min)} à ${minutes(max)}`);
    else if (max !== null) parts.push(`de moins de ${minutes(max)}`);
    else if (min !== null) parts.push(`de plus de ${minutes(min)}`);
    if (query.maxMaturityRating !== null) {
      const age = maturityAge(query.maxMaturityRating) ?? 18;
      parts.push(
        age <= 7
          ? 'pour les enfants'
          : age <= 10
            ? 'pour toute la famille'
            : age <= 13
              ? 'pour les ados'
              : `classés ${query.maxMaturityRating} au plus`,
      );
    }
    if (query.excludeGenres.length > 0) parts.push(`sans ${and(query.excludeGenres, 'ni')}`);
    return `${noun(query)}${parts.map((part) => ` ${part}`).join(',')}`;
  };
  const SUGGESTIONS: Record<Suggestion, (excluded: string[]) => string> = {
    duration: () => 'de retirer la limite de durée',
    years: () => 'd\u2019élargir les années',
    maturity: () => 'd\u2019assouplir la classification',
    language: () => 'une autre langue',
    genres: () => 'de retirer des genres',
    exclusions: (excluded) => `d\u2019accepter ${and(excluded, 'ou')}`,
    types: () => 'd\u2019autres types de titres',
    filters: () => 'd\u2019assouplir les filtres de la page',
    rephrase: () => 'd\u2019autres mots, ou un titre que vous aimez',
  };
  return {
    found(query, references, count, titles, fewer) {
      const top = titles.slice(0, LEADING_TITLES);
      if (count === 1) {
        if (top.length === 0) return fewer ? 'Un seul résultat.' : 'Voici un résultat.';
        return `${fewer ? 'Un seul résultat' : 'Voici'}\u00a0: ${quoted(top)}.`;
      }
      const lead = fewer
        ? `Seulement ${count} ${describe(query, references)}`
        : `Voici ${count} ${describe(query, references)}`;
      if (top.length === 0) return `${lead}.`;
      return count >= LEADING_TITLES
        ? `${lead}\u00a0: ${quoted(top)} ouvrent la liste.`
        : `${lead}\u00a0: ${quoted(top)}.`;
    },
    nothing: (query, references) =>
      `Je n\u2019ai trouvé aucun résultat parmi les ${describe(query, references)}.`,
    notFound: (titles, someFound) =>
      `Je n\u2019ai pas trouvé ${and(titles, 'ni')} dans le catalogue${someFound ? '\u00a0; voici ce qui correspond au reste de votre demande' : ''}.`,
    suggest: ({ kinds, excluded }) =>
      `Essayez ${and(
        kinds.map((kind) => SUGGESTIONS[kind](excluded)),
        'ou',
      )}.`,
  };
})();

/** The nouns of the query's one item type, if the reply knows them. */
function nounsOf(query: ChatQuery): (typeof TYPE_NOUNS)[string] | undefined {
  const type = query.types.length === 1 ? query.types[0]! : undefined;
  return type === undefined ? undefined : wordEntry(TYPE_NOUNS, type);
}

/** One line, at most MAX_QUOTED_LENGTH, its own double quotes curly so that they cannot end the quote. */
function clip(text: string): string {
  const clean = text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/"([^"]*)"/g, '\u201c$1\u201d')
    .replace(/"/g, '\u201d');
  return clean.length <= MAX_QUOTED_LENGTH
    ? clean
    : `${clean.slice(0, MAX_QUOTED_LENGTH - 1).trimEnd()}\u2026`;
}
