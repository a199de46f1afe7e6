import { randomUUID } from 'node:crypto';
import { scaleScores } from '../recommender/score-scale.ts';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { type ChatQuery, chatQuerySchema, plainChatQuery } from '../chat/chat-query.ts';
import {
  type ChatHistoryTurn,
  type ChatReplyContext,
  type ChatStrategies,
  type ReferenceItem,
  ruleQueryParser,
  templateReplyWriter,
} from '../chat/chat-strategies.ts';
import { languageOf, TYPE_WORDS, wordEntry } from '../chat/chat-vocabulary.ts';
import { type GenreLabel, kindredLabels, resolveGenre, resolveGenres } from '../chat/genre-resolver.ts';
import { type MoodGenres, moodGenres } from '../chat/nearest-genres.ts';
import type { Database, StoredChatTurn } from '../db/database.ts';
import type { EmbeddingSpace } from '../db/embedding-space.ts';
import { loadWordVectors } from '../embedding/word-vectors.ts';
import { NotFoundError } from '../errors.ts';
import type { ExplanationLocale } from '../explain/locale.ts';
import { type ItemFilters, maturityAge } from '../recommender/item-filters.ts';
import { reciprocalRankFusion } from '../recommender/rank-fusion.ts';
import {
  findGenreCounts,
  findItemsWithGenreOfEach,
  findLanguageCounts,
} from '../repositories/catalog-vocabulary.repository.ts';
import {
  findConsumedItemIds,
  findFreshItems,
  findNearestItems,
  findRankableItems,
  type RankableItemRow,
} from '../repositories/candidates.repository.ts';
import { appendChatTurn, findLiveChatSession } from '../repositories/chat-sessions.repository.ts';
import { findTextMatches } from '../repositories/search.repository.ts';
import { ensureUsersExist } from '../repositories/users.repository.ts';
import type { RecommendedItem } from '../schemas/recommendations.schema.ts';
import { toItem } from './items.service.ts';
import { type RecommenderDeps, recommendForSession, recommendForUser } from './recommendations.service.ts';
import { normaliseTitle, rankTitleMatches, searchItems } from './search.service.ts';
import type { SearchIndex } from './search-index.service.ts';

/** Turns a session keeps: enough for any follow-up, small enough to read and write whole each turn. */
export const CHAT_MAX_TURNS = 20;
/** Items each candidate list contributes before fusion: twice the largest page leaves room for exclusions. */
const CANDIDATE_DEPTH = 100;
/** Genre labels read from the catalog at most (catalogs have tens; a runaway import could have thousands). */
const MAX_GENRE_LABELS = 2_000;
/** Consumed items a known viewer is spared (most recent first), as on their recommendations. */
const MAX_CONSUMED = 2_000;
/**
 * The catalog's genre and language vocabulary changes only with imports: a minute's staleness costs at most
 * a new label's being unknown for a minute, and spares a scan of every item's genres on each message.
 */
export const VOCABULARY_TTL_MS = 60_000;
const HOUR_MS = 3_600_000;

/**
 * Weights of the candidate lists in the fusion. The story list leads the session recommendation of the named
 * titles: on the netflix catalog, without interactions, the latter follows whole-item embeddings, in which
 * long cast lists weigh as much as the plot (Stranger Things brought "Valentine's Day" by a shared actor).
 * With interactions, what people watched after the titles still tops the session list and joins the fusion.
 * The genre list (the items with every genre and mood asked for) weighs as much as the search.
 */
const LIST_WEIGHTS = { references: 1, stories: 1.5, search: 1, genres: 1 } as const;

interface CandidateList {
  name: string;
  weight: number;
  items: RecommendedItem[];
}

export interface CatalogVocabulary {
  genres: GenreLabel[];
  /** Empty when the catalog records no languages: a language asked for is then searched as a word. */
  languages: { tag: string; count: number }[];
}

/** The vocabulary, read at most once per TTL and per process (concurrent callers share the read). */
export type CatalogVocabularyCache = (db: Kysely<Database>) => Promise<CatalogVocabulary>;

export function createCatalogVocabularyCache(ttlMs = VOCABULARY_TTL_MS): CatalogVocabularyCache {
  let cached: { at: number; value: Promise<CatalogVocabulary> } | undefined;
  return (db) => {
    const now = Date.now();
    if (cached && now - cached.at < ttlMs) return cached.value;
    const value = Promise.all([findGenreCounts(db, MAX_GENRE_LABELS), findLanguageCounts(db)]).then(
      ([genres, languages]) => ({ genres, languages }),
    );
    const entry = { at: now, value };
    cached = entry;
    value.catch(() => {
      if (cached === entry) cached = undefined;
    });
    return value;
  };
}

export interface ChatDependencies {
  db: Kysely<Database>;
  recommender: RecommenderDeps;
  /** The text's vector for the semantic half of search, or undefined when the embedder cannot answer. */
  embedQuery: (text: string) => Promise<Float32Array | undefined>;
  /** The search documents in memory (unfiltered searches rank there). */
  searchIndex?: Pick<SearchIndex, 'matches'> | undefined;
  space: EmbeddingSpace;
  strategies: ChatStrategies;
  vocabulary: CatalogVocabularyCache;
  sessionTtlHours: number;
  log: { warn: (details: object, message: string) => void };
  signal?: AbortSignal | undefined;
  /** Whose daily LLM token budget the strategies spend (an API key id). */
  budgetKey?: string | undefined;
  now?: Date;
}

export interface ChatRequest {
  sessionId?: string | undefined;
  userId?: string | undefined;
  message: string;
  /** The caller's business rules: every item obeys them, whatever the message says. */
  filters: ItemFilters;
  limit: number;
  locale: ExplanationLocale;
}

export interface ChatTurn {
  sessionId: string;
  appliedQuery: ChatQuery;
  items: RecommendedItem[];
  /** The reply in pieces as it is written. Reading it to the end stores the turn in the session. */
  reply: AsyncIterable<string>;
}

/**
 * One turn of a conversation: the session's history, the message parsed into a query (by the configured
 * parser, the rules as fallback), the items retrieved for it, and the reply, which the caller reads (or
 * streams) to the end, at which point the turn is stored. Unknown, expired and other users' sessions are
 * all the same 404, so that a session id reveals nothing about anyone else's.
 */
export async function startChatTurn(deps: ChatDependencies, request: ChatRequest): Promise<ChatTurn> {
  const now = deps.now ?? new Date();
  const history = request.sessionId ? await loadHistory(deps.db, request.sessionId, request.userId, now) : [];
  const sessionId = request.sessionId ?? randomUUID();
  const { query, byRules } = await parseMessage(deps, request, history);
  const retrieved = await findChatItems(deps, query, request, history, { moodGenres: byRules });
  const found = { ...retrieved, items: scaleScores(retrieved.items) };
  const context: ChatReplyContext = {
    message: request.message,
    query,
    items: found.items,
    references: found.references,
    unresolvedReferences: found.unresolvedReferences,
    limit: request.limit,
    requestFilters: request.filters,
    locale: request.locale,
    history,
  };
  return {
    sessionId,
    appliedQuery: query,
    items: found.items,
    reply: writeAndStore(deps, context, async (reply) => {
      const turn: StoredChatTurn = {
        at: now.toISOString(),
        message: request.message,
        query,
        itemIds: found.items.map((entry) => entry.itemId),
        reply,
      };
      const expiresAt = new Date(now.getTime() + deps.sessionTtlHours * HOUR_MS);
      await deps.db.transaction().execute(async (trx) => {
        // Like a first event, a first chat creates the user, so that export and erasure find the sessions.
        if (request.userId !== undefined) await ensureUsersExist(trx, [request.userId]);
        await appendChatTurn(trx, {
          id: sessionId,
          userId: request.userId ?? null,
          turn,
          expiresAt,
          maxTurns: CHAT_MAX_TURNS,
        });
      });
    }),
  };
}

const storedTurnSchema = z.object({
  at: z.string(),
  message: z.string(),
  query: chatQuerySchema,
  itemIds: z.array(z.string()),
  reply: z.string(),
});

async function loadHistory(
  db: Kysely<Database>,
  sessionId: string,
  userId: string | undefined,
  now: Date,
): Promise<ChatHistoryTurn[]> {
  const row = await findLiveChatSession(db, sessionId, now);
  if (!row || row.user_id !== (userId ?? null))
    throw new NotFoundError(`No chat session "${sessionId}": it does not exist or has expired.`);
  // A turn stored by an older version whose query no longer fits the schema is skipped, not fatal.
  return row.turns.flatMap((turn) => {
    const parsed = storedTurnSchema.safeParse(turn);
    return parsed.success ? [parsed.data] : [];
  });
}

async function parseMessage(
  deps: ChatDependencies,
  request: ChatRequest,
  history: readonly ChatHistoryTurn[],
): Promise<{ query: ChatQuery; byRules: boolean }> {
  const input = { message: request.message, history, locale: request.locale };
  const { parser } = deps.strategies;
  try {
    const query = chatQuerySchema.parse(
      await parser.parse(input, { signal: deps.signal, budgetKey: deps.budgetKey }),
    );
    // The rules write only their word lists' values and the viewer's own words; any other parser may be a
    // model's mouthpiece, so its strings pass the output filter before appliedQuery and the reply use them.
    const byRules = parser === ruleQueryParser;
    return { query: applicable(byRules ? query : plainChatQuery(query)), byRules };
  } catch (error) {
    if (parser === ruleQueryParser) throw error;
    deps.log.warn({ err: error, parser: parser.name }, 'chat parser failed; using the rule-based parser');
    return { query: applicable(await ruleQueryParser.parse(input, { signal: deps.signal })), byRules: true };
  }
}

/**
 * The query as the engine applies it, so that `appliedQuery` tells the truth: item types spelled as the
 * catalog spells them ("film" is movie), a maturity rating the scale does not know dropped (rather than
 * turned into "allow nothing").
 */
function applicable(query: ChatQuery): ChatQuery {
  const rating = query.maxMaturityRating;
  return {
    ...query,
    types: normaliseTypes(query.types),
    maxMaturityRating: rating !== null && maturityAge(rating) !== undefined ? rating : null,
  };
}

/** The configured writer's reply, the template's if it fails before writing anything; then `store` it. */
async function* writeAndStore(
  deps: ChatDependencies,
  context: ChatReplyContext,
  store: (reply: string) => Promise<void>,
): AsyncGenerator<string> {
  const { replyWriter } = deps.strategies;
  let reply = '';
  try {
    for await (const piece of replyWriter.write(context, {
      signal: deps.signal,
      budgetKey: deps.budgetKey,
    })) {
      reply += piece;
      yield piece;
    }
  } catch (error) {
    if (replyWriter === templateReplyWriter) throw error;
    deps.log.warn(
      { err: error, writer: replyWriter.name, written: reply.length },
      'chat reply writer failed; using the template reply',
    );
    // Half a sentence already sent stays as it is: the streaming client has shown it.
    if (reply === '') {
      for await (const piece of templateReplyWriter.write(context, {})) {
        reply += piece;
        yield piece;
      }
    }
  }
  await store(reply);
}

interface FoundItems {
  items: RecommendedItem[];
  references: ReferenceItem[];
  unresolvedReferences: string[];
}

export interface ChatSearchOptions {
  /**
   * Read the mood, and the words of the semantic text that name a tone, as the catalog's genres
   * (src/chat/nearest-genres.ts). For the rule-based parser's queries: a model is shown the catalog's genres
   * and names them itself.
   */
  moodGenres?: boolean;
}

/**
 * The query run against the catalog. Named titles are found by title and stand for "more like these":
 * the session recommendation of those items; the words (semantic text, mood, genres and languages the
 * catalog has no label for, titles it does not have) go to hybrid search. Both lists are fused by
 * reciprocal rank. A query that is only filters gets the viewer's recommendations (trending for a visitor)
 * under them, topped up with the newest matching items. Every list obeys the query's filters merged with
 * the caller's; the named titles themselves, and a known viewer's consumed items, are never returned.
 *
 * A mood the catalog has genres for is those genres, and they combine with the genres asked for: "a scary
 * movie" is a horror movie, "funny sci-fi" is sci-fi that is also a comedy. A mood whose genres leave
 * nothing to show is a word to search again, as if it had none.
 */
export async function findChatItems(
  deps: ChatDependencies,
  query: ChatQuery,
  request: Pick<ChatRequest, 'userId' | 'filters' | 'limit'>,
  history: readonly ChatHistoryTurn[] = [],
  options: ChatSearchOptions = {},
): Promise<FoundItems> {
  // The same words are embedded once a turn, though the search, the genre list and a retry all ask.
  const embedded = new Map<string, Promise<Float32Array | undefined>>();
  const embedQuery = (text: string) => {
    let vector = embedded.get(text);
    if (!vector) {
      vector = deps.embedQuery(text);
      embedded.set(text, vector);
    }
    return vector;
  };
  const turn: ChatDependencies = { ...deps, embedQuery };
  const vocabulary = await deps.vocabulary(deps.db);
  // The caller's own genre list wins over the message's genres (see mergeFilters), and so over its moods.
  const moods =
    options.moodGenres && !request.filters.genresAny?.length ? await readMoods(turn, query, vocabulary) : [];
  if (moods.length > 0) {
    const found = await retrieve(turn, query, request, history, vocabulary, moods);
    if (found.items.length > 0) return found;
  }
  return retrieve(turn, query, request, history, vocabulary, []);
}

/** The items for the query with each mood's genres required too (no moods: as before they were read). */
async function retrieve(
  deps: ChatDependencies,
  query: ChatQuery,
  request: Pick<ChatRequest, 'userId' | 'filters' | 'limit'>,
  history: readonly ChatHistoryTurn[],
  vocabulary: CatalogVocabulary,
  moods: readonly MoodGenres[],
): Promise<FoundItems> {
  const wanted = filtersOfQuery(query, vocabulary);
  const merged = mergeFilters(request.filters, wanted.filters);
  const { found: references, unresolved } = await findReferenceItems(deps.db, query.referenceTitles);
  if (!merged) return { items: [], references, unresolvedReferences: unresolved };
  const referenceRows =
    references.length > 0
      ? await findRankableItems(
          deps.db,
          references.map((reference) => reference.itemId),
          { availableNow: false },
          { withEmbeddings: false },
        )
      : [];
  const referenceGenres = referenceRows.flatMap(({ row }) => row.genres);
  const groups = genreGroups(query, vocabulary, request.filters, merged, moods, referenceGenres);
  // The first required group is a filter every list applies; the others are checked on what they return.
  const filters: ItemFilters =
    groups.required.length > 0 ? { ...merged, genresAny: groups.required[0] } : merged;
  const obeys = (entry: RecommendedItem) =>
    groups.required.every((group) => entry.item.genres.some((genre) => group.includes(genre)));

  const words = [
    query.semanticText,
    query.mood ?? '',
    ...wanted.words,
    // Genres the query wants that the caller's own genre filter leaves no room for: matched as words.
    ...(request.filters.genresAny?.length ? query.genres : []),
    // A title the catalog lacks may be misspelled or a description ("like that whale film"): its words are
    // searched, unless other titles were found, whose likes say more than loose words.
    ...(references.length === 0 ? unresolved : []),
  ];
  const text = words.filter(Boolean).join(' ').replace(/\s+/g, ' ').trim().slice(0, 500);
  const consumed = request.userId
    ? await findConsumedItemIds(
        deps.db,
        request.userId,
        deps.recommender.config.consumedEventTypes,
        MAX_CONSUMED,
      )
    : [];
  // Asked the same thing again ("more", "something else"): what the session showed makes room for others.
  const previous = history.at(-1);
  const repeated = previous && sameQuery(previous.query, query);
  const excluded = new Set([
    ...references.map((reference) => reference.itemId),
    ...(repeated ? history.flatMap((turn) => turn.itemIds) : []),
  ]);
  const candidates = {
    limit: CANDIDATE_DEPTH,
    filters,
    exclude: [...excluded],
    recordImpressions: false,
  } as const;

  const lists: CandidateList[] = [];
  if (references.length > 0) {
    const answer = await recommendForSession(deps.recommender, {
      ...candidates,
      recentItemIds: references.map((reference) => reference.itemId),
      userId: request.userId,
    });
    lists.push({
      name: 'references',
      weight: LIST_WEIGHTS.references,
      items: asMentioned(answer.page.items),
    });
    const skipped = [...excluded, ...consumed];
    lists.push({
      name: 'stories',
      weight: LIST_WEIGHTS.stories,
      items: await storyNeighbours(deps, references, referenceRows, filters, skipped, vocabulary.genres),
    });
  }
  if (text !== '') {
    const { catalog, model, pageCache } = deps.recommender;
    const versions = deps.searchIndex || catalog ? await pageCache.versions() : undefined;
    const results = await searchItems(
      {
        db: deps.db,
        embedQuery: deps.embedQuery,
        space: deps.space,
        model,
        searchIndex: deps.searchIndex,
        heldCatalog: versions && catalog ? () => catalog.at(versions.catalog) : undefined,
        catalogVersion: versions?.catalog,
      },
      { query: text, filters, limit: CANDIDATE_DEPTH, userId: request.userId },
    );
    const skipped = new Set([...excluded, ...consumed]);
    lists.push({
      name: 'search',
      weight: LIST_WEIGHTS.search,
      items: results.items.filter((entry) => !skipped.has(entry.itemId)),
    });
  }
  if (lists.length === 0) {
    const answer = request.userId
      ? await recommendForUser(deps.recommender, { ...candidates, userId: request.userId })
      : await recommendForSession(deps.recommender, { ...candidates, recentItemIds: [] });
    const newest = await newestItems(deps.db, filters, [...excluded, ...consumed], request.limit);
    lists.push({ name: 'recommendations', weight: 1, items: appendMissing(answer.page.items, newest) });
  }
  if (groups.preferred.length > 1) {
    const items = await genreCombination(deps, groups, filters, [...excluded, ...consumed], text, moods);
    lists.push({ name: 'genres', weight: LIST_WEIGHTS.genres, items });
  }
  const obeying = lists.map((list) => ({ ...list, items: list.items.filter(obeys) }));
  return {
    items: byGenresMatched(fuse(obeying), groups.preferred).slice(0, request.limit),
    references,
    unresolvedReferences: unresolved,
  };
}

/** The moods and tone words of the query that the catalog's genres can say, with those genres. */
async function readMoods(
  deps: ChatDependencies,
  query: ChatQuery,
  vocabulary: CatalogVocabulary,
): Promise<MoodGenres[]> {
  if (vocabulary.genres.length === 0 || (query.mood === null && query.semanticText === '')) return [];
  try {
    // The local embedder's (loaded once per process, whichever embedder the items use).
    const vectors = await loadWordVectors();
    return moodGenres(query, vocabulary.genres, vectors);
  } catch (error) {
    deps.log.warn({ err: error }, 'word vectors unavailable; moods are searched as words');
    return [];
  }
}

interface GenreGroups {
  /** Each must be met by a genre of the item. */
  required: string[][];
  /** Each genre word and mood of the message: the items that meet more of them come first. */
  preferred: string[][];
}

/**
 * The genres a query asks for, as groups of catalog labels, less the genres excluded. The genre words
 * together are one requirement, as they always were (the parser reads "horror or comedy" and "horror
 * comedy" alike); each mood is one more. Preferred: each genre word and each mood on its own, and, when
 * genres are asked for, the named titles' other genres ("a thriller like Inception": a thriller that is
 * also, like Inception, sci-fi or action).
 */
function genreGroups(
  query: ChatQuery,
  vocabulary: CatalogVocabulary,
  callerFilters: ItemFilters,
  filters: ItemFilters,
  moods: readonly MoodGenres[],
  referenceGenres: readonly string[],
): GenreGroups {
  const excluded = new Set(filters.genresNone ?? []);
  const moodGroups = moods
    .map((mood) => mood.labels.filter((label) => !excluded.has(label)))
    .filter((labels) => labels.length > 0);
  const asked = callerFilters.genresAny?.length
    ? []
    : query.genres
        .map((word) => resolveGenre(word, vocabulary.genres).filter((label) => !excluded.has(label)))
        .filter((labels) => labels.length > 0);
  const first = filters.genresAny?.length ? [[...filters.genresAny]] : [];
  const preferred: string[][] = [];
  for (const group of [...asked, ...moodGroups])
    if (!preferred.some((other) => sameMembers(other, group))) preferred.push(group);
  if (preferred.length > 0 && referenceGenres.length > 0) {
    const taken = new Set(preferred.flat());
    const kin = kindredLabels(referenceGenres, vocabulary.genres).filter(
      (label) => !taken.has(label) && !excluded.has(label),
    );
    if (kin.length > 0) preferred.push(kin);
  }
  return { required: [...first, ...moodGroups], preferred };
}

/**
 * The items with a genre of every preferred group (a comedy label and a sci-fi label for "funny sci-fi"),
 * closest to the request's words first: the text and story lists hold too few of them to fill a page when
 * the combination is a small part of what the filters allow.
 */
async function genreCombination(
  deps: ChatDependencies,
  groups: GenreGroups,
  filters: ItemFilters,
  exclude: readonly string[],
  text: string,
  moods: readonly MoodGenres[],
): Promise<RecommendedItem[]> {
  const vector = text === '' ? undefined : await deps.embedQuery(text);
  const found = await findItemsWithGenreOfEach(deps.db, groups.preferred, vector, {
    limit: CANDIDATE_DEPTH,
    filters,
    excludeIds: exclude,
  });
  const rows = await findRankableItems(
    deps.db,
    found.map((entry) => entry.itemId),
    filters,
    { withEmbeddings: false },
  );
  const byId = new Map(rows.map((entry) => [entry.row.id, entry.row]));
  const meaning = moods.map((mood) => `"${mood.word}" as ${mood.labels.join(', ')}`).join('; ');
  const detail = `Has every genre asked for${meaning === '' ? '' : ` (${meaning})`}`;
  return found.flatMap(({ itemId, similarity }) => {
    const row = byId.get(itemId);
    if (!row) return [];
    const score = similarity === undefined ? 0 : Math.round(similarity * 10_000) / 10_000;
    return [
      {
        itemId,
        score,
        item: toItem(row),
        reasons: [{ source: 'search' as const, detail, evidenceItemIds: [] }],
      },
    ];
  });
}

/** The items meeting more of the groups first; otherwise in the order given. */
function byGenresMatched(items: RecommendedItem[], groups: readonly string[][]): RecommendedItem[] {
  if (groups.length < 2) return items;
  const met = (entry: RecommendedItem) =>
    groups.filter((group) => entry.item.genres.some((genre) => group.includes(genre))).length;
  return items
    .map((entry, index) => ({ entry, index, met: met(entry) }))
    .sort((a, b) => b.met - a.met || a.index - b.index)
    .map(({ entry }) => entry);
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value) => b.includes(value));
}

/** One list as it is; several by reciprocal rank, each item keeping every list's reasons. */
function fuse(lists: readonly CandidateList[]): RecommendedItem[] {
  if (lists.length === 1) return lists[0]!.items;
  const entries = new Map(
    lists.map((list) => [list.name, new Map(list.items.map((entry) => [entry.itemId, entry]))]),
  );
  const fused = reciprocalRankFusion(
    lists.map((list) => ({
      name: list.name,
      weight: list.weight,
      ids: list.items.map((entry) => entry.itemId),
    })),
  );
  return fused.map((item) => {
    // The lists that contributed most come first, and so do their reasons.
    const found = item.contributions.map((part) => entries.get(part.name)!.get(item.id)!);
    const reasons = found
      .flatMap((entry) => entry.reasons)
      .filter(
        (reason, index, all) =>
          all.findIndex((other) => other.source === reason.source && other.detail === reason.detail) ===
          index,
      );
    return { ...found[0]!, score: Math.round(item.score * 1_000_000) / 1_000_000, reasons };
  });
}

/**
 * Items of the named titles' genres whose story is close to theirs: among the items sharing a genre with
 * them (in any format: a series' "TV Sci-Fi & Fantasy" is kin to the movies' "Sci-Fi & Fantasy"), the
 * nearest neighbours of their genres and descriptions alone. The titles' own embeddings, which the session
 * recommendation follows, also hold their cast and crew, which on a catalog with long cast lists pulls in
 * whatever shares an actor rather than a story.
 */
async function storyNeighbours(
  deps: ChatDependencies,
  references: readonly ReferenceItem[],
  rows: readonly RankableItemRow[],
  filters: ItemFilters,
  exclude: readonly string[],
  genreLabels: readonly GenreLabel[],
): Promise<RecommendedItem[]> {
  const text = rows
    .map(({ row }) => `${row.genres.join(', ')}. ${row.description ?? ''}`)
    .join('\n')
    .slice(0, 4_000);
  const vector = text.trim() === '' ? undefined : await deps.embedQuery(text);
  if (!vector) return [];
  // Genres asked for (by the message or the caller) already narrow the list; kinship would fight them.
  const kin = filters.genresAny?.length
    ? []
    : kindredLabels(
        rows.flatMap(({ row }) => row.genres),
        genreLabels,
      ).filter((label) => !filters.genresNone?.includes(label));
  const nearest = await findNearestItems(deps.db, vector, {
    limit: CANDIDATE_DEPTH,
    filters: kin.length > 0 ? { ...filters, genresAny: kin } : filters,
    excludeIds: exclude,
  });
  const found = await findRankableItems(
    deps.db,
    nearest.map((entry) => entry.itemId),
    filters,
    { withEmbeddings: false },
  );
  const byId = new Map(found.map((entry) => [entry.row.id, entry.row]));
  const titles = references.map((reference) => `"${reference.title}"`).join(' and ');
  const evidenceItemIds = references.map((reference) => reference.itemId);
  return nearest.flatMap((entry) => {
    const row = byId.get(entry.itemId);
    if (!row) return [];
    return [
      {
        itemId: entry.itemId,
        score: Math.round(entry.similarity * 10_000) / 10_000,
        item: toItem(row),
        reasons: [
          {
            source: 'session' as const,
            detail: `A story close to ${titles}`,
            evidenceItemIds,
            coViewed: false,
            mentioned: true,
          },
        ],
      },
    ];
  });
}

/**
 * The session reasons of items found from titles the user typed: their evidence was named in the
 * conversation, not viewed, and the explanations must not say "which you just viewed".
 */
function asMentioned(items: readonly RecommendedItem[]): RecommendedItem[] {
  return items.map((entry) => ({
    ...entry,
    reasons: entry.reasons.map((reason) =>
      reason.source === 'session' ? { ...reason, mentioned: true } : reason,
    ),
  }));
}

function appendMissing(items: RecommendedItem[], more: RecommendedItem[]): RecommendedItem[] {
  const present = new Set(items.map((entry) => entry.itemId));
  return [...items, ...more.filter((entry) => !present.has(entry.itemId))];
}

/** The newest items that obey the filters: what a catalog without any activity yet can still offer. */
async function newestItems(
  db: Kysely<Database>,
  filters: ItemFilters,
  exclude: readonly string[],
  limit: number,
): Promise<RecommendedItem[]> {
  const newest = await findFreshItems(db, undefined, { limit, filters, excludeIds: exclude, sinceYear: 0 });
  const rows = await findRankableItems(
    db,
    newest.map((entry) => entry.itemId),
    filters,
    { withEmbeddings: false },
  );
  const byId = new Map(rows.map((entry) => [entry.row.id, entry.row]));
  return newest.flatMap((entry, rank) => {
    const row = byId.get(entry.itemId);
    if (!row) return [];
    const year = entry.releaseYear === null ? '' : ` (${entry.releaseYear})`;
    return [
      {
        itemId: entry.itemId,
        score: Math.round((1 / (rank + 1)) * 10_000) / 10_000,
        item: toItem(row),
        reasons: [
          {
            source: 'fresh' as const,
            detail: `Among the newest that match your request${year}`,
            evidenceItemIds: [],
          },
        ],
      },
    ];
  });
}

/**
 * Each named title's catalog item: the item whose whole title it is, else the best item whose title holds
 * all its words and contains it. Unavailable items count (a viewer may name a title that left the
 * catalog); a title matching nothing is returned as unresolved.
 */
async function findReferenceItems(
  db: Kysely<Database>,
  titles: readonly string[],
): Promise<{ found: ReferenceItem[]; unresolved: string[] }> {
  const found: ReferenceItem[] = [];
  const unresolved: string[] = [];
  for (const title of titles) {
    const matches = await findTextMatches(db, title, { limit: 20, filters: { availableNow: false } });
    const { ranked, exact } = rankTitleMatches(title, matches);
    const wanted = normaliseTitle(title);
    const bestId = ranked.find(
      (id) => exact.has(id) || normaliseTitle(matches.find((m) => m.itemId === id)!.title).includes(wanted),
    );
    const best = matches.find((match) => match.itemId === bestId);
    if (best && !found.some((reference) => reference.itemId === best.itemId))
      found.push({ itemId: best.itemId, title: best.title });
    else if (!best) unresolved.push(title);
  }
  return { found, unresolved };
}

/**
 * The query's wishes as filters, against the catalog's vocabulary; the words it has nothing for (a genre
 * with no label, a language the catalog does not record) are returned to be searched instead.
 */
export function filtersOfQuery(
  query: ChatQuery,
  vocabulary: CatalogVocabulary,
): { filters: ItemFilters; words: string[] } {
  const words: string[] = [];
  const genres = resolveGenres(query.genres, vocabulary.genres);
  words.push(...genres.unresolved);
  // An exclusion the catalog has no label for excludes nothing: there is nothing labelled so to show.
  const excluded = resolveGenres(query.excludeGenres, vocabulary.genres).labels;
  let languages: string[] | undefined;
  if (query.languages.length > 0) {
    if (vocabulary.languages.length === 0) {
      words.push(...query.languages.map((tag) => languageOf(tag)?.name.en ?? tag));
    } else {
      const primary = (tag: string) => tag.split(/[-_]/, 1)[0]!.toLowerCase();
      const asked = new Set(query.languages.map(primary));
      const known = vocabulary.languages.map((entry) => entry.tag).filter((tag) => asked.has(primary(tag)));
      // A language the catalog has none of filters to nothing, which the reply then says.
      languages = known.length > 0 ? known : [...query.languages];
    }
  }
  const rating = query.maxMaturityRating;
  const seconds = (minutes: number | null) => (minutes === null ? undefined : minutes * 60);
  return {
    filters: {
      types: query.types.length > 0 ? normaliseTypes(query.types) : undefined,
      genresAny: genres.labels.length > 0 ? genres.labels : undefined,
      genresNone: excluded.length > 0 ? excluded : undefined,
      languages,
      // A rating the maturity scale does not know is left out rather than turned into "allow nothing".
      maxMaturityRating: rating !== null && maturityAge(rating) !== undefined ? rating : undefined,
      yearFrom: query.yearFrom ?? undefined,
      yearTo: query.yearTo ?? undefined,
      minDurationSeconds: seconds(query.minDurationMinutes),
      maxDurationSeconds: seconds(query.maxDurationMinutes),
    },
    words,
  };
}

/** Item types as the catalog spells them: "film" and "TV show" from a language model are movie, series. */
function normaliseTypes(types: readonly string[]): string[] {
  const spelled = types.map((type) => {
    const key = type
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, ' ')
      .trim();
    return wordEntry(TYPE_WORDS, key) ?? key.replace(/ /g, '-');
  });
  return [...new Set(spelled.filter(Boolean))];
}

/**
 * The caller's filters and the query's together: both must hold. Undefined when they contradict each
 * other (movies asked of a page limited to series), which no item can satisfy. Where ItemFilters can hold
 * only one list (genres, any of), the caller's wins and the query's genres are searched as words instead.
 */
export function mergeFilters(caller: ItemFilters, wanted: ItemFilters): ItemFilters | undefined {
  const both = <T>(a: readonly T[] | undefined, b: readonly T[] | undefined) => {
    if (!a?.length) return b;
    if (!b?.length) return a;
    return a.filter((value) => b.includes(value));
  };
  const union = (a: readonly string[] | undefined, b: readonly string[] | undefined) =>
    a?.length || b?.length ? [...new Set([...(a ?? []), ...(b ?? [])])] : undefined;
  const highest = (a: number | undefined, b: number | undefined) =>
    a === undefined ? b : b === undefined ? a : Math.max(a, b);
  const lowest = (a: number | undefined, b: number | undefined) =>
    a === undefined ? b : b === undefined ? a : Math.min(a, b);
  const stricterRating = (a: string | undefined, b: string | undefined) =>
    a === undefined
      ? b
      : b === undefined
        ? a
        : (maturityAge(b) ?? Infinity) < (maturityAge(a) ?? Infinity)
          ? b
          : a;
  const merged: ItemFilters = {
    ...caller,
    types: both(caller.types, wanted.types),
    genresAny: caller.genresAny?.length ? caller.genresAny : wanted.genresAny,
    genresNone: union(caller.genresNone, wanted.genresNone),
    languages: both(caller.languages, wanted.languages),
    maxMaturityRating: stricterRating(caller.maxMaturityRating, wanted.maxMaturityRating),
    yearFrom: highest(caller.yearFrom, wanted.yearFrom),
    yearTo: lowest(caller.yearTo, wanted.yearTo),
    minDurationSeconds: highest(caller.minDurationSeconds, wanted.minDurationSeconds),
    maxDurationSeconds: lowest(caller.maxDurationSeconds, wanted.maxDurationSeconds),
  };
  // An empty intersection of two lists that were not empty: nothing can be both.
  if (merged.types?.length === 0 || merged.languages?.length === 0) return undefined;
  if (merged.yearFrom !== undefined && merged.yearTo !== undefined && merged.yearFrom > merged.yearTo)
    return undefined;
  if (
    merged.minDurationSeconds !== undefined &&
    merged.maxDurationSeconds !== undefined &&
    merged.minDurationSeconds > merged.maxDurationSeconds
  )
    return undefined;
  return merged;
}

function sameQuery(a: ChatQuery, b: ChatQuery): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
