/**
 * The template explainer: one plain sentence per recommended item, written from the ranker's reasons and
 * signals and nothing else. The only titles it names are those of the reasons' evidence items, which the
 * caller looks up and passes in, so it cannot cite anything the engine did not use; what it says the item
 * shares with them (people, themes, genres: shared-traits.ts) and how many viewers watched both are facts
 * the caller measured. It is the offline default and the fallback of an LLM explainer (issue 6): pure,
 * instant and deterministic. Each kind of sentence has a few phrasings, and a page's items take the one
 * least used so far on the page (PageVariety), so a page does not read like a form letter.
 */
import type { Reason, SearchMatch } from '../recommender/blend.ts';
import type { RankingSignal } from '../recommender/ranking/ranking-signals.ts';
import { DEFAULT_LOCALE, type ExplanationLocale, supportedLocale } from './locale.ts';
import { type SharedTraits, type TraitSource, sharedTraits } from './shared-traits.ts';
import { fnv1a } from '../fnv1a.ts';

export const EXPLANATION_MAX_LENGTH = 240;
/** Titles one clause cites: two read naturally, three start to read like a list. */
const MAX_CITED = 2;
/** A cited title or search query longer than this is cut, so one long title cannot crowd out the rest. */
const MAX_QUOTED_LENGTH = 60;

export interface Explanation {
  text: string;
  source: 'template';
  /** The items the sentence names, in the order it names them. */
  evidenceItemIds: string[];
}

/** What the explainer reads of a page item: the shared item shape fits. */
export interface ExplainableItem {
  itemId: string;
  item: TraitSource & { title: string; releaseDate?: string | undefined };
  reasons: readonly Reason[];
  /** The learned ranker's strongest signals, when it ordered the page. */
  signals?: readonly RankingSignal[] | undefined;
}

/**
 * Evidence items by id: the titles a sentence may name, the genres it may say the user watches, and what
 * it may say the item shares with them (credits, tags and description, when given).
 */
export type EvidenceItems = ReadonlyMap<string, TraitSource & { title: string }>;

/**
 * Which phrasing each sentence of a page takes: the one of its kind used least so far on the page, ties
 * broken by a hash of the item, so the same page reads the same every time. One per page, explained in
 * page order.
 */
export interface PageVariety {
  choose(kind: string, count: number, itemId: string): number;
}

export function pageVariety(): PageVariety {
  const used = new Map<string, number>();
  return {
    choose(kind, count, itemId) {
      const start = fnv1a(`${itemId}:${kind}`) % count;
      let best = start;
      let fewest = Infinity;
      for (let step = 0; step < count; step++) {
        const at = (start + step) % count;
        const uses = used.get(`${kind}:${count}:${at}`) ?? 0;
        if (uses < fewest) {
          fewest = uses;
          best = at;
        }
      }
      used.set(`${kind}:${count}:${best}`, fewest + 1);
      return best;
    },
  };
}

/**
 * - `personal`: the evidence is the user's own history or session (recommendations, session, search).
 * - `similar`: the evidence is the item a "more like this" page is about, which the user may not have seen,
 *   so no sentence says "which you enjoyed".
 */
export type ExplanationContext = 'personal' | 'similar';

export interface ExplainOptions {
  /** A BCP 47 tag; a language without templates gets English. */
  locale?: string | undefined;
  context?: ExplanationContext | undefined;
  /** The page's phrasing so far (pageVariety); without it, each item's phrasing is chosen by its hash. */
  variety?: PageVariety | undefined;
  /** Distinct viewers of both the item and an evidence item, when measured. */
  coViewers?: ((itemId: string, evidenceId: string) => number | undefined) | undefined;
}

interface Cited {
  ids: string[];
  titles: string[];
}

/**
 * What the item shares with the first title a clause cites: people, themes or genres (the first that
 * exists, in that order; see sharedTraits), and for co-viewing the viewers who watched both.
 */
interface Shared {
  traits: SharedTraits | undefined;
  viewers: number | undefined;
}

/** What one reason lets a sentence say, whatever the language. */
type Clause =
  | { kind: 'collaborative' | 'vector'; cited: Cited; similar: boolean; shared: Shared }
  /**
   * `coViewed`: from what people watch next (else from content similarity to the session); `mentioned`:
   * the titles are ones the user named in a conversation, not ones they viewed.
   */
  | { kind: 'session'; cited: Cited; coViewed: boolean; mentioned: boolean; shared: Shared }
  | { kind: 'trending'; viewers: number | undefined }
  | { kind: 'popular'; viewers: number | undefined }
  | { kind: 'fresh'; year: number | undefined; genre: string | undefined; yourGenre: boolean; cited: Cited }
  | { kind: 'editorial'; genre: string | undefined }
  | { kind: 'exploration'; genre: string | undefined }
  /** An item without reasons (none of the engine's pages has one): says only where it is from. */
  | { kind: 'none'; genre: string | undefined }
  | { kind: 'search'; query: string | undefined; match: SearchMatch | undefined; detail: string };

/** Chooses one of a few phrasings (see PageVariety). */
type Choose = (variants: readonly string[]) => string;

interface Phrasebook {
  /** The sentence's main clause. */
  lead(clause: Clause, pick: Choose): string;
  /**
   * What the item shares with the lead's first cited title, as a clause to append ("both star X"), or
   * undefined when nothing is shared: people or themes, and genres only when `genres` is true.
   */
  shared(clause: Clause, pick: Choose, genres: boolean): string | undefined;
  /** A clause for the ranker's strongest signal not already said by the reasons, or undefined. */
  signal(signal: SignalClause): string | undefined;
  /** A short clause appended to another reason's lead, or undefined when the reason adds nothing there. */
  tail(clause: Clause): string | undefined;
  /** Joins a lead and a tail into one sentence. */
  join(lead: string, tail: string): string;
}

/** What a sentence may add from the ranker's signals that no reason says. */
type SignalClause = { kind: 'rating' } | { kind: 'recent' } | { kind: 'genre'; genre: string };

/** One sentence of at most EXPLANATION_MAX_LENGTH characters saying why the item is on the page. */
export function explainWithTemplate(
  entry: ExplainableItem,
  evidence: EvidenceItems,
  options: ExplainOptions = {},
): Explanation {
  const locale = (options.locale && supportedLocale(options.locale)) || DEFAULT_LOCALE;
  const book = PHRASEBOOKS[locale];
  const similar = options.context === 'similar';
  const variety = options.variety ?? pageVariety();
  // Decided once per clause kind, so the length retries below keep the phrasing.
  const chosen = new Map<string, number>();
  const pickFor =
    (salt: string): Choose =>
    (variants) => {
      const key = `${salt}:${variants.length}`;
      let at = chosen.get(key);
      if (at === undefined) {
        at = variety.choose(salt, variants.length, entry.itemId);
        chosen.set(key, at);
      }
      return variants[at]!;
    };
  const facts: ClauseFacts = { entry, evidence, similar, coViewers: options.coViewers };

  // The reason the ranker's strongest signal speaks for leads; else the strongest reason.
  const reasons = leadBySignal(dedupeBySource(entry.reasons), entry.signals).slice(0, 2);
  // The strongest reason leads, unless it has nothing specific to say and the next one has.
  const [first, second] = reasons;
  const swap =
    first !== undefined &&
    second !== undefined &&
    first.source !== 'exploration' &&
    !informative(clauseOf(first, facts, new Set(), MAX_CITED, 'lead')) &&
    informative(clauseOf(second, facts, new Set(), MAX_CITED, 'lead'));
  const [leadReason, tailReason] = swap ? [second, first] : [first, second];

  const attempts: [number, number][] = [
    [MAX_CITED, MAX_CITED],
    [MAX_CITED, 1],
    [1, 1],
    [MAX_CITED, 0],
    [1, 0],
  ];
  let shortest: Explanation | undefined;
  for (const [leadCited, tailCited] of attempts) {
    shortest = compose(leadCited, tailCited);
    if (shortest.text.length <= EXPLANATION_MAX_LENGTH) return shortest;
  }
  // Unreachable with MAX_QUOTED_LENGTH as it is; a guard so the limit holds whatever the templates become.
  return { ...shortest!, text: truncate(shortest!.text, EXPLANATION_MAX_LENGTH) };

  function compose(leadCited: number, tailCited: number): Explanation {
    if (!leadReason)
      return { text: book.lead(noReason(entry), pickFor('none')), source: 'template', evidenceItemIds: [] };
    const lead = clauseOf(leadReason, facts, new Set(), leadCited, 'lead');
    const leadIds = citedIds(lead);
    let text = book.lead(lead, pickFor(lead.kind));
    let ids = leadIds;
    // People or themes the item shares with the cited title are the most specific thing to add; else the
    // second reason; else shared genres; else what the ranker's signals say that no reason does.
    const sharedPick = pickFor(`${lead.kind}:shared`);
    const shared = tailCited > 0 ? book.shared(lead, sharedPick, false) : undefined;
    if (shared !== undefined)
      return { text: book.join(text, shared), source: 'template', evidenceItemIds: ids };
    if (tailReason && tailCited > 0 && tailReason.source !== leadReason.source) {
      const tail = clauseOf(tailReason, facts, new Set(leadIds), tailCited, 'tail');
      const phrase = informative(tail) ? book.tail(tail) : undefined;
      if (phrase !== undefined) {
        text = book.join(text, phrase);
        ids = [...leadIds, ...citedIds(tail)];
        return { text, source: 'template', evidenceItemIds: ids };
      }
    }
    const genres = tailCited > 0 ? book.shared(lead, sharedPick, true) : undefined;
    if (genres !== undefined)
      return { text: book.join(text, genres), source: 'template', evidenceItemIds: ids };
    const signal = tailCited > 0 ? signalClause(entry, evidence, leadIds) : undefined;
    const phrase = signal && book.signal(signal);
    if (phrase !== undefined) text = book.join(text, phrase);
    return { text, source: 'template', evidenceItemIds: ids };
  }
}

/** Signal features and the reason source that says the same thing. */
const SIGNAL_SOURCES: readonly [prefix: string, source: Reason['source']][] = [
  ['item-knn.', 'collaborative'],
  ['rp3beta.', 'collaborative'],
  ['ease.', 'collaborative'],
  ['content.', 'vector'],
  ['popularity', 'popular'],
  ['trending', 'trending'],
];

/** Moves the reason the strongest signal speaks for to the front, when the item has one. */
function leadBySignal<R extends { source: string }>(
  reasons: R[],
  signals: readonly RankingSignal[] | undefined,
): R[] {
  const strongest = signals?.[0];
  if (!strongest) return reasons;
  const source = SIGNAL_SOURCES.find(([prefix]) => strongest.feature.startsWith(prefix))?.[1];
  const at = source === undefined ? -1 : reasons.findIndex((reason) => reason.source === source);
  if (at <= 0) return reasons;
  return [reasons[at]!, ...reasons.slice(0, at), ...reasons.slice(at + 1)];
}

/**
 * What the ranker's signals say that the reasons do not: a high rating, a recent release, or a genre the
 * user favours (named only when a cited title of theirs has it too, so the sentence can be checked).
 */
function signalClause(
  entry: ExplainableItem,
  evidence: EvidenceItems,
  citedIds: readonly string[],
): SignalClause | undefined {
  for (const signal of entry.signals ?? []) {
    switch (signal.feature) {
      case 'item.rating':
        // The shrunk mean rating on a 0-1 scale: 0.75 is four stars out of five.
        if (signal.value !== null && signal.value >= 0.75) return { kind: 'rating' };
        break;
      case 'item.release-age-years':
        if (signal.value !== null && signal.value <= 2) return { kind: 'recent' };
        break;
      case 'genre.affinity-max':
      case 'genre.affinity-mean': {
        const theirs = new Set(citedIds.flatMap((id) => evidence.get(id)?.genres ?? []));
        const genre = entry.item.genres.find((g) => theirs.has(g));
        if (genre !== undefined) return { kind: 'genre', genre };
        break;
      }
      default:
        break;
    }
  }
  return undefined;
}

interface ClauseFacts {
  entry: ExplainableItem;
  evidence: EvidenceItems;
  similar: boolean;
  coViewers: ExplainOptions['coViewers'];
}

/** Each source once, strongest first: search gives up to two reasons of its own, which would repeat. */
function dedupeBySource<R extends { source: string }>(reasons: readonly R[]): R[] {
  const seen = new Set<string>();
  return reasons.filter((reason) => !seen.has(reason.source) && seen.add(reason.source));
}

function clauseOf(
  reason: ExplainableItem['reasons'][number],
  { entry, evidence, similar, coViewers }: ClauseFacts,
  alreadyCited: ReadonlySet<string>,
  maxCited: number,
  role: 'lead' | 'tail',
): Clause {
  const sharedWith = (cited: Cited, withViewers: boolean): Shared => {
    const first = cited.ids[0];
    if (first === undefined || role === 'tail') return { traits: undefined, viewers: undefined };
    const viewers = withViewers ? coViewers?.(entry.itemId, first) : undefined;
    return {
      traits: sharedTraits(entry.item, evidence.get(first)!),
      viewers: viewers !== undefined && viewers > 0 ? viewers : undefined,
    };
  };
  const cite = (ids: readonly string[]): Cited => {
    const known = [...new Set(ids)]
      .filter((id) => evidence.has(id) && !alreadyCited.has(id))
      .slice(0, maxCited);
    return { ids: known, titles: known.map((id) => truncate(evidence.get(id)!.title, MAX_QUOTED_LENGTH)) };
  };
  const genre = entry.item.genres[0];
  const sharesGenre = (id: string) =>
    entry.item.genres.length === 0 ||
    (evidence.get(id)?.genres ?? []).some((g) => entry.item.genres.includes(g));
  switch (reason.source) {
    case 'vector': {
      // "Close in tone to X" reads true of an X sharing a genre with the item: those are named first, and
      // only those when the vector reason is the weaker one (it may have contributed next to nothing).
      const sharing = reason.evidenceItemIds.filter(sharesGenre);
      const ids = role === 'tail' ? sharing : [...sharing, ...reason.evidenceItemIds];
      const cited = cite(ids);
      return { kind: 'vector', cited, similar, shared: sharedWith(cited, false) };
    }
    case 'collaborative': {
      const cited = cite(reason.evidenceItemIds);
      const shared = sharedWith(cited, true);
      return { kind: 'collaborative', cited: firstWhenCounted(cited, shared), similar, shared };
    }
    case 'session': {
      // The session source has a co-viewing half and a content half; only the first may say "watched after".
      const cited = cite(reason.evidenceItemIds);
      const coViewed = reason.coViewed === true;
      const shared = sharedWith(cited, coViewed);
      return {
        kind: 'session',
        cited: firstWhenCounted(cited, shared),
        coViewed,
        mentioned: reason.mentioned === true,
        shared,
      };
    }
    case 'trending':
      return reason.window === 'all-time'
        ? { kind: 'popular', viewers: reason.viewers }
        : { kind: 'trending', viewers: reason.viewers };
    case 'popular':
      return { kind: 'popular', viewers: reason.viewers };
    case 'fresh': {
      // A genre of the item that the items behind the reason (the user's main interest) share.
      const theirGenres = new Set(reason.evidenceItemIds.flatMap((id) => evidence.get(id)?.genres ?? []));
      const shared = entry.item.genres.find((g) => theirGenres.has(g));
      const preferred = [
        ...reason.evidenceItemIds.filter(
          (id) => shared !== undefined && evidence.get(id)?.genres.includes(shared),
        ),
        ...reason.evidenceItemIds,
      ];
      const year = entry.item.releaseDate ? Number(entry.item.releaseDate.slice(0, 4)) : undefined;
      return {
        kind: 'fresh',
        year: Number.isInteger(year) ? year : undefined,
        genre: shared ?? genre,
        yourGenre: shared !== undefined,
        cited: similar ? { ids: [], titles: [] } : cite(preferred),
      };
    }
    case 'editorial':
      return { kind: 'editorial', genre };
    case 'exploration':
      return { kind: 'exploration', genre };
    case 'search':
      return {
        kind: 'search',
        query: reason.query === undefined ? undefined : truncate(reason.query, MAX_QUOTED_LENGTH),
        match: reason.match,
        detail: reason.detail,
      };
  }
}

/** A count of viewers of both is about the first cited title: the sentence then names that one only. */
function firstWhenCounted(cited: Cited, shared: Shared): Cited {
  return shared.viewers === undefined
    ? cited
    : { ids: cited.ids.slice(0, 1), titles: cited.titles.slice(0, 1) };
}

function noReason(entry: ExplainableItem): Clause {
  return { kind: 'none', genre: entry.item.genres[0] };
}

/** Whether the clause says something specific: a title, a figure, a year, a query, an editor's choice. */
function informative(clause: Clause): boolean {
  switch (clause.kind) {
    case 'collaborative':
    case 'vector':
    case 'session':
      return clause.cited.ids.length > 0;
    case 'popular':
      return clause.viewers !== undefined && clause.viewers > 0;
    case 'fresh':
      return clause.year !== undefined || clause.yourGenre || clause.cited.ids.length > 0;
    case 'search':
      return clause.query !== undefined;
    case 'trending':
    case 'editorial':
      return true;
    case 'exploration':
    case 'none':
      return false;
  }
}

/** The people a sentence names: those of the first role shared (directors before cast), and whether several. */
function leadingPeople(traits: SharedTraits) {
  const role = traits.people[0]?.role;
  const who = traits.people.filter((person) => person.role === role);
  return { role, who, many: who.length > 1 };
}

/** The traits a clause may name: those it measured for the title it cites first. */
function sharedOf(clause: Clause): SharedTraits | undefined {
  if (clause.kind !== 'collaborative' && clause.kind !== 'vector' && clause.kind !== 'session')
    return undefined;
  return clause.cited.ids.length > 0 ? clause.shared.traits : undefined;
}

function citedIds(clause: Clause): string[] {
  return 'cited' in clause ? clause.cited.ids : [];
}

/** Cut to `max` UTF-16 units with an ellipsis, never inside a surrogate pair. */
function truncate(text: string, max: number): string {
  const clean = text.replace(/\s+/g, ' ').trim();
  if (clean.length <= max) return clean;
  let cut = max - 1;
  if (/[\uD800-\uDBFF]/.test(clean[cut - 1] ?? '')) cut -= 1;
  return `${clean.slice(0, cut).trimEnd()}…`;
}

const english: Phrasebook = (() => {
  const list = (titles: readonly string[]) => {
    const quoted = titles.map((title) => `"${title}"`);
    return quoted.length <= 1 ? (quoted[0] ?? '') : `${quoted.slice(0, -1).join(', ')} and ${quoted.at(-1)}`;
  };
  const viewers = (n: number) => `${n.toLocaleString('en-US')} ${n === 1 ? 'viewer' : 'viewers'}`;
  const names = (people: readonly { name: string }[]) => {
    const named = people.slice(0, 2).map((person) => person.name);
    return named.length <= 1 ? (named[0] ?? '') : `${named[0]} and ${named[1]}`;
  };
  const plainList = (words: readonly string[]) =>
    words.length <= 1 ? (words[0] ?? '') : `${words[0]} and ${words[1]}`;
  const inYear = (year: number | undefined) => (year === undefined ? '' : ` in ${year}`);
  const newRelease = (year: number | undefined) => `A new ${year === undefined ? '' : `${year} `}release`;
  const searchLead: Record<SearchMatch, (q: string) => readonly string[]> = {
    title: (q) => [`Matches "${q}" in its title`, `Its title matches "${q}"`],
    credits: (q) => [`Matches "${q}" in its cast and crew`],
    labels: (q) => [`Matches "${q}" in its genres and tags`],
    description: (q) => [`Its story matches "${q}"`, `Matches "${q}" in its description`],
    any: (q) => [`Matches your search for "${q}"`],
    meaning: (q) => [`Close in spirit to your search for "${q}"`, `About what you searched for: "${q}"`],
  };
  return {
    lead(clause, pick) {
      switch (clause.kind) {
        case 'collaborative': {
          const t = list(clause.cited.titles);
          if (!t)
            return clause.similar
              ? 'Often watched by the same viewers'
              : 'Viewers with tastes like yours watched this';
          const n = clause.shared.viewers;
          if (n !== undefined)
            return pick([
              `${viewers(n)} who watched ${t} also watched this`,
              `Watched by ${viewers(n)} who also watched ${t}`,
              `Fans of ${t} watched this too: ${n === 1 ? '1 viewer has' : `${viewers(n)} have`} seen both`,
            ]);
          return pick([
            `People who watched ${t} also loved this`,
            `Fans of ${t} watched this too`,
            `Viewers who enjoyed ${t} also enjoyed this`,
          ]);
        }
        case 'vector': {
          const t = list(clause.cited.titles);
          if (!t)
            return clause.similar ? 'Similar in tone and story' : 'Close to the kind of stories you enjoy';
          const enjoyed = clause.similar ? '' : ', which you enjoyed';
          return pick([
            `Close in tone and story to ${t}${enjoyed}`,
            `If you liked ${t}, this has a similar feel`,
            `Shares the story and style of ${t}${enjoyed}`,
          ]);
        }
        case 'session': {
          const t = list(clause.cited.titles);
          if (!t) return 'Goes well with what you just viewed';
          if (clause.mentioned)
            return pick(
              clause.coViewed
                ? [
                    `Often watched right after ${t}, which you mentioned`,
                    `Viewers of ${t} often watch this next`,
                  ]
                : [
                    `Close in story to ${t}, which you asked about`,
                    `In the spirit of ${t}, as you asked`,
                    `A story like ${t}, which you mentioned`,
                  ],
            );
          const n = clause.shared.viewers;
          if (n !== undefined)
            return pick([
              `${viewers(n)} who watched ${t} watched this too`,
              `Often watched after ${t}: ${n === 1 ? '1 viewer has' : `${viewers(n)} have`} seen both`,
            ]);
          return pick(
            clause.coViewed
              ? [
                  `Goes well with ${t}, which you just viewed`,
                  `Often watched right after ${t}`,
                  `A natural next step after ${t}`,
                ]
              : [
                  `Goes well with ${t}, which you just viewed`,
                  `Close to ${t}, which you just viewed`,
                  `In the same vein as ${t}, which you just viewed`,
                ],
          );
        }
        case 'trending':
          if (!clause.viewers) return 'Trending this week';
          return pick([
            `Trending this week with ${viewers(clause.viewers)}`,
            `One of this week's most-watched titles, with ${viewers(clause.viewers)}`,
            `Catching on this week, with ${viewers(clause.viewers)}`,
          ]);
        case 'popular':
          if (!clause.viewers) return 'One of the most-watched titles';
          return pick([
            `Loved by ${viewers(clause.viewers)}`,
            `A crowd favourite with ${viewers(clause.viewers)}`,
            `One of the most-watched titles, with ${viewers(clause.viewers)}`,
          ]);
        case 'fresh': {
          const { year, genre } = clause;
          const t = list(clause.cited.titles);
          if (clause.yourGenre && t)
            return pick([
              `${newRelease(year)} in ${genre}, like ${t}, which you enjoyed`,
              `Just out${inYear(year)}: ${genre} in the vein of ${t}, which you enjoyed`,
            ]);
          if (clause.yourGenre)
            return pick([
              `${newRelease(year)} in ${genre}, a genre you watch often`,
              `Just out${inYear(year)}, in ${genre}, a genre you watch often`,
            ]);
          if (t)
            return pick([
              `${newRelease(year)} close to ${t}, which you enjoyed`,
              `New${inYear(year)} and close to ${t}, which you enjoyed`,
            ]);
          if (genre) return pick([`${newRelease(year)} in ${genre}`, `Just out${inYear(year)}, in ${genre}`]);
          return pick([newRelease(year), `Just released${inYear(year)}`]);
        }
        case 'editorial':
          return clause.genre
            ? pick([
                `An editors' pick in ${clause.genre}`,
                `Hand-picked by our editors from our ${clause.genre} titles`,
                `Featured by our editors`,
              ])
            : pick([`Hand-picked by our editors`, `One of our editors' picks`, `Featured by our editors`]);
        case 'exploration':
          return clause.genre
            ? pick([
                `Something different from your usual picks, in ${clause.genre}`,
                `A change from your usual picks: ${clause.genre}`,
                `Off your usual path, in ${clause.genre}`,
              ])
            : pick([
                'Something different from your usual picks',
                'A change from your usual picks',
                'Something new to discover, away from your usual picks',
              ]);
        case 'none':
          return clause.genre ? `From our ${clause.genre} titles` : 'From our catalog';
        case 'search':
          if (clause.query === undefined || clause.match === undefined)
            return truncate(clause.detail, EXPLANATION_MAX_LENGTH) || 'Matches your search';
          return pick(searchLead[clause.match](clause.query));
      }
    },
    tail(clause) {
      switch (clause.kind) {
        case 'collaborative':
          return `people who watched ${list(clause.cited.titles)} loved it too`;
        case 'vector':
          return `it is close in tone to ${list(clause.cited.titles)}${clause.similar ? '' : ', which you enjoyed'}`;
        case 'session':
          return clause.mentioned
            ? `it is close to ${list(clause.cited.titles)}, which you mentioned`
            : `it goes well with ${list(clause.cited.titles)}, which you just viewed`;
        case 'trending':
          return clause.viewers
            ? `it is trending this week with ${viewers(clause.viewers)}`
            : 'it is trending this week';
        case 'popular':
          return clause.viewers ? `${viewers(clause.viewers)} have enjoyed it` : undefined;
        case 'fresh':
          return clause.year === undefined ? 'it is a new release' : `it is a new ${clause.year} release`;
        case 'editorial':
          return 'our editors picked it';
        case 'search':
          if (clause.query === undefined) return undefined;
          return clause.match === 'meaning'
            ? `it is close to your search for "${clause.query}"`
            : `it matches your search for "${clause.query}"`;
        case 'exploration':
        case 'none':
          return undefined;
      }
    },
    shared(clause, pick, withGenres) {
      const traits = sharedOf(clause);
      if (!traits) return undefined;
      const { themes, genres } = traits;
      const { role, who, many } = leadingPeople(traits);
      switch (role) {
        case 'director':
          return pick([`both are directed by ${names(who)}`, `${names(who)} directed both`]);
        case 'cast':
          return pick([
            `both star ${names(who)}`,
            `${names(who)} ${many ? 'are' : 'is'} in both`,
            `${names(who)} ${many ? 'appear' : 'appears'} in both`,
          ]);
        case 'writer':
          return pick([`both are written by ${names(who)}`, `${names(who)} wrote both`]);
        case 'artist':
          return pick([`both feature ${names(who)}`, `${names(who)} ${many ? 'are' : 'is'} behind both`]);
        case undefined:
          break;
      }
      if (themes.length > 0) {
        const about = plainList(themes.slice(0, 2).map((theme) => theme.en));
        return pick([`both are about ${about}`, `both tell a story of ${about}`]);
      }
      if (withGenres && genres.length > 0) {
        const shared = plainList(genres.slice(0, 2));
        return pick([`both are in ${shared}`, `both are listed under ${shared}`]);
      }
      return undefined;
    },
    signal(signal) {
      switch (signal.kind) {
        case 'rating':
          return 'viewers rate it highly';
        case 'recent':
          return 'it is a recent release';
        case 'genre':
          return `it is in ${signal.genre}, a genre you watch often`;
      }
    },
    join: (lead, tail) => `${lead}, and ${tail}`,
  };
})();

// French typography: « guillemets » and a no-break space before a colon.
const NBSP = '\u00a0';
const french: Phrasebook = (() => {
  const quote = (text: string) => `«${NBSP}${text}${NBSP}»`;
  const list = (titles: readonly string[]) => {
    const quoted = titles.map(quote);
    return quoted.length <= 1 ? (quoted[0] ?? '') : `${quoted.slice(0, -1).join(', ')} et ${quoted.at(-1)}`;
  };
  // Past participles agree with the titles they refer to (taken as masculine: « un titre », « un film »).
  const plural = (cited: Cited) => (cited.titles.length > 1 ? 's' : '');
  const viewers = (n: number) => `${n.toLocaleString('fr-FR')} ${n === 1 ? 'spectateur' : 'spectateurs'}`;
  /** « qui a » for one, « qui ont » for more. */
  const have = (n: number) => (n === 1 ? 'a' : 'ont');
  const names = (people: readonly { name: string }[]) => {
    const named = people.slice(0, 2).map((person) => person.name);
    return named.length <= 1 ? (named[0] ?? '') : `${named[0]} et ${named[1]}`;
  };
  const plainList = (words: readonly string[]) =>
    words.length <= 1 ? (words[0] ?? '') : `${words[0]} et ${words[1]}`;
  const ofYear = (year: number | undefined) => (year === undefined ? '' : ` de ${year}`);
  const inYear = (year: number | undefined) => (year === undefined ? '' : ` en ${year}`);
  const searchLead: Record<SearchMatch, (q: string) => readonly string[]> = {
    title: (q) => [`Correspond à ${quote(q)} dans son titre`, `Son titre correspond à ${quote(q)}`],
    credits: (q) => [`Correspond à ${quote(q)} dans sa distribution et son équipe`],
    labels: (q) => [`Correspond à ${quote(q)} dans ses genres et mots-clés`],
    description: (q) => [`Son histoire correspond à ${quote(q)}`, `Correspond à ${quote(q)} dans son résumé`],
    any: (q) => [`Correspond à votre recherche ${quote(q)}`],
    meaning: (q) => [
      `Proche de l’esprit de votre recherche ${quote(q)}`,
      `Dans le thème de votre recherche ${quote(q)}`,
    ],
  };
  return {
    lead(clause, pick) {
      switch (clause.kind) {
        case 'collaborative': {
          const t = list(clause.cited.titles);
          if (!t)
            return clause.similar
              ? 'Souvent regardé par les mêmes spectateurs'
              : 'Des spectateurs aux goûts proches des vôtres l’ont regardé';
          const n = clause.shared.viewers;
          if (n !== undefined)
            return pick([
              `${viewers(n)} qui ${have(n)} regardé ${t} ${have(n)} aussi regardé celui-ci`,
              `Regardé par ${viewers(n)} qui ${have(n)} aussi regardé ${t}`,
            ]);
          return pick([
            `Les personnes qui ont regardé ${t} ont aussi adoré ce titre`,
            `Les fans de ${t} l’ont regardé aussi`,
            `Ceux qui ont aimé ${t} ont aussi aimé celui-ci`,
          ]);
        }
        case 'vector': {
          const t = list(clause.cited.titles);
          if (!t)
            return clause.similar ? 'Proche par le ton et l’histoire' : 'Proche des histoires que vous aimez';
          const enjoyed = clause.similar ? '' : `, que vous avez aimé${plural(clause.cited)}`;
          return pick([
            `Proche par le ton et l’histoire de ${t}${enjoyed}`,
            `Si vous avez aimé ${t}, celui-ci a un air de famille`,
            `Dans la veine de ${t}${enjoyed}`,
          ]);
        }
        case 'session': {
          const t = list(clause.cited.titles);
          if (!t) return 'Va bien avec ce que vous venez de regarder';
          if (clause.mentioned)
            return pick(
              clause.coViewed
                ? [`Souvent regardé juste après ${t}, dont vous avez parlé`]
                : [`Proche de ${t}, dont vous avez parlé`, `Dans l’esprit de ${t}, comme demandé`],
            );
          const n = clause.shared.viewers;
          if (n !== undefined)
            return pick([`${viewers(n)} qui ${have(n)} regardé ${t} ${have(n)} aussi regardé celui-ci`]);
          return pick(
            clause.coViewed
              ? [
                  `Va bien avec ${t}, que vous venez de regarder`,
                  `Souvent regardé juste après ${t}`,
                  `Idéal après ${t}`,
                ]
              : [
                  `Va bien avec ${t}, que vous venez de regarder`,
                  `Proche de ${t}, que vous venez de regarder`,
                  `Dans la veine de ${t}, que vous venez de regarder`,
                ],
          );
        }
        case 'trending':
          if (!clause.viewers) return 'Tendance cette semaine';
          return pick([
            `Tendance cette semaine, avec ${viewers(clause.viewers)}`,
            `Parmi les plus regardés de la semaine, avec ${viewers(clause.viewers)}`,
            `En vogue cette semaine${NBSP}: ${viewers(clause.viewers)}`,
          ]);
        case 'popular':
          if (!clause.viewers) return 'L’un des titres les plus regardés';
          return pick([
            `Apprécié par ${viewers(clause.viewers)}`,
            `Un favori du public, avec ${viewers(clause.viewers)}`,
            `L’un des titres les plus regardés, avec ${viewers(clause.viewers)}`,
          ]);
        case 'fresh': {
          const { year, genre } = clause;
          const t = list(clause.cited.titles);
          const liked = `que vous avez aimé${plural(clause.cited)}`;
          if (clause.yourGenre && t)
            return pick([
              `Une nouveauté${ofYear(year)} dans le genre ${genre}, comme ${t}, ${liked}`,
              `Tout juste sorti${inYear(year)}, dans la veine de ${t}, ${liked}`,
            ]);
          if (clause.yourGenre)
            return pick([
              `Une nouveauté${ofYear(year)} dans le genre ${genre}, que vous regardez souvent`,
              `Tout juste sorti${inYear(year)}, dans le genre ${genre} que vous regardez souvent`,
            ]);
          if (t)
            return pick([
              `Une nouveauté${ofYear(year)} proche de ${t}, ${liked}`,
              `Tout juste sorti${inYear(year)} et proche de ${t}, ${liked}`,
            ]);
          if (genre)
            return pick([
              `Une nouveauté${ofYear(year)} dans le genre ${genre}`,
              `Tout juste sorti${inYear(year)}, dans le genre ${genre}`,
            ]);
          return pick([`Une nouveauté${ofYear(year)}`, `Tout juste sorti${inYear(year)}`]);
        }
        case 'editorial':
          return clause.genre
            ? pick([
                `Un coup de cœur de la rédaction, dans le genre ${clause.genre}`,
                `Sélectionné par notre équipe éditoriale parmi nos titres ${clause.genre}`,
                `Mis en avant par notre équipe éditoriale`,
              ])
            : pick([
                `Sélectionné par notre équipe éditoriale`,
                `Un coup de cœur de la rédaction`,
                `Mis en avant par notre équipe éditoriale`,
              ]);
        case 'exploration':
          return clause.genre
            ? pick([
                `Un peu différent de vos choix habituels, dans le genre ${clause.genre}`,
                `Pour changer de vos habitudes${NBSP}: ${clause.genre}`,
                `Hors de vos sentiers battus, dans le genre ${clause.genre}`,
              ])
            : pick([
                'Un peu différent de vos choix habituels',
                'Pour changer de vos habitudes',
                'À découvrir, loin de vos choix habituels',
              ]);
        case 'none':
          return clause.genre ? `Parmi nos titres ${clause.genre}` : 'Parmi notre catalogue';
        case 'search':
          if (clause.query === undefined || clause.match === undefined) return 'Correspond à votre recherche';
          return pick(searchLead[clause.match](clause.query));
      }
    },
    tail(clause) {
      switch (clause.kind) {
        case 'collaborative':
          return `les personnes qui ont regardé ${list(clause.cited.titles)} l’ont aussi adoré`;
        case 'vector':
          return `il rappelle ${list(clause.cited.titles)}${
            clause.similar ? '' : `, que vous avez aimé${plural(clause.cited)}`
          }`;
        case 'session':
          return clause.mentioned
            ? `il est proche de ${list(clause.cited.titles)}, dont vous avez parlé`
            : `il va bien avec ${list(clause.cited.titles)}, que vous venez de regarder`;
        case 'trending':
          return clause.viewers
            ? `il est tendance cette semaine avec ${viewers(clause.viewers)}`
            : 'il est tendance cette semaine';
        case 'popular':
          if (!clause.viewers) return undefined;
          return `${viewers(clause.viewers)} l’${clause.viewers === 1 ? 'a' : 'ont'} apprécié`;
        case 'fresh':
          return `c’est une nouveauté${ofYear(clause.year)}`;
        case 'editorial':
          return 'notre équipe éditoriale l’a sélectionné';
        case 'search':
          if (clause.query === undefined) return undefined;
          return clause.match === 'meaning'
            ? `il est proche de votre recherche ${quote(clause.query)}`
            : `il correspond à votre recherche ${quote(clause.query)}`;
        case 'exploration':
        case 'none':
          return undefined;
      }
    },
    shared(clause, pick, withGenres) {
      const traits = sharedOf(clause);
      if (!traits) return undefined;
      const { themes, genres } = traits;
      const { role, who, many } = leadingPeople(traits);
      switch (role) {
        case 'director':
          return pick([
            `tous deux sont réalisés par ${names(who)}`,
            `${names(who)} ${many ? 'ont' : 'a'} réalisé les deux`,
          ]);
        case 'cast':
          return pick([
            `${names(who)} ${many ? 'jouent' : 'joue'} dans les deux`,
            `on retrouve ${names(who)} dans les deux`,
          ]);
        case 'writer':
          return pick([`tous deux sont écrits par ${names(who)}`]);
        case 'artist':
          return pick([`on retrouve ${names(who)} dans les deux`]);
        case undefined:
          break;
      }
      if (themes.length > 0) {
        const about = plainList(themes.slice(0, 2).map((theme) => theme.fr));
        return pick([`tous deux ont pour thème ${about}`, `on y retrouve ${about}`]);
      }
      if (withGenres && genres.length > 0)
        return pick([`tous deux sont classés ${plainList(genres.slice(0, 2))}`]);
      return undefined;
    },
    signal(signal) {
      switch (signal.kind) {
        case 'rating':
          return 'les spectateurs le notent très bien';
        case 'recent':
          return 'c’est une sortie récente';
        case 'genre':
          return `il est du genre ${signal.genre}, que vous regardez souvent`;
      }
    },
    join: (lead, tail) => `${lead}, et ${tail}`,
  };
})();

const PHRASEBOOKS: Record<ExplanationLocale, Phrasebook> = { en: english, fr: french };
