import { randomUUID } from 'node:crypto';
import { scaleScores } from '../recommender/score-scale.ts';
import type { Kysely } from 'kysely';
import type { Database, StoredProfile } from '../db/database.ts';
import type { EmbeddingSpace } from '../db/embedding-space.ts';
import { hasFilters, type ItemFilters } from '../recommender/item-filters.ts';
import type { SearchMatch } from '../recommender/blend.ts';
import { type FusedItem, type RankedList, reciprocalRankFusion } from '../recommender/rank-fusion.ts';
import {
  findItemRows,
  findItemSummaries,
  findItemTitles,
  findNearestItems,
} from '../repositories/candidates.repository.ts';
import { findTextMatches, type TextMatch } from '../repositories/search.repository.ts';
import type { ModelSnapshot } from './model-snapshot.service.ts';
import type { SearchIndex } from './search-index.service.ts';
import type { HeldCatalog } from './item-catalog.service.ts';
import { availableAt } from '../recommender/item-catalog.ts';
import { findUserProfile } from '../repositories/user-profiles.repository.ts';
import type { RecommendedItem } from '../schemas/recommendations.schema.ts';
import { toItem } from './items.service.ts';

/** Matches each ranked list contributes to the fusion: deep enough to fill any page after filtering. */
export const SEARCH_LIST_DEPTH = 100;
/**
 * Weights in the fusion. The lexical list and the title list together make a title match outrank an item
 * that only shares words in its description; the taste list reorders the matches for a known user at half
 * weight, so that it breaks near-ties without pushing out what the query asked for.
 */
const LIST_WEIGHTS = { text: 1, title: 1, vector: 1, taste: 0.5 } as const;
type ListName = keyof typeof LIST_WEIGHTS;

export interface SearchRequest {
  query: string;
  filters: ItemFilters;
  limit: number;
  userId?: string | undefined;
}

export interface SearchDependencies {
  db: Kysely<Database>;
  /**
   * The query's vector in the items' embedding space, or undefined when the embedder cannot answer now:
   * the search then runs on the text alone.
   */
  embedQuery: (text: string) => Promise<Float32Array | undefined>;
  /** The space item vectors (and so profile vectors) live in; a profile from another space is ignored. */
  space: EmbeddingSpace;
  /** The model in memory: its vector index answers unfiltered searches (pgvector the others). */
  model?: Pick<ModelSnapshot, 'nearest' | 'vectorsOf'> | undefined;
  /** The search documents in memory: they rank unfiltered searches (Postgres the others, and phrases). */
  searchIndex?: Pick<SearchIndex, 'matches'> | undefined;
  /** The item catalog in memory, as of now: it checks an unfiltered search's candidates (undefined: SQL). */
  heldCatalog?: (() => Promise<HeldCatalog | undefined>) | undefined;
  /** The catalog version read for this search: while it holds, the search index need not ask Postgres. */
  catalogVersion?: string | undefined;
  now?: Date;
}

export interface SearchResults {
  searchId: string;
  items: RecommendedItem[];
  nextCursor: null;
}

/**
 * Hybrid search: Postgres full-text ranking and nearest neighbours of the query's embedding, fused by
 * reciprocal rank, filters applied in both; for a user with a taste profile, the matches reordered by
 * closeness to their heaviest interest join the fusion at a lower weight. An item whose whole title is the
 * query comes first (someone typing a title wants that title). Records nothing.
 */
export async function searchItems(deps: SearchDependencies, request: SearchRequest): Promise<SearchResults> {
  const { db, now } = deps;
  const query = { limit: SEARCH_LIST_DEPTH, filters: request.filters, now };
  const filtered = hasFilters(request.filters);
  const [foundMatches, nearest, stored, catalog] = await Promise.all([
    (filtered ? undefined : deps.searchIndex)
      ?.matches(request.query, SEARCH_LIST_DEPTH, deps.catalogVersion)
      .then((matches) => matches ?? findTextMatches(db, request.query, query)) ??
      findTextMatches(db, request.query, query),
    deps
      .embedQuery(request.query)
      .then(async (vector) =>
        vector
          ? ((filtered ? undefined : deps.model?.nearest(vector, { ...query, excludeIds: [] })) ??
            findNearestItems(db, vector, query))
          : [],
      ),
    request.userId ? findUserProfile(db, request.userId) : undefined,
    filtered ? undefined : deps.heldCatalog?.(),
  ]);

  const candidateIds = [...new Set([...foundMatches.map((m) => m.itemId), ...nearest.map((n) => n.itemId)])];
  // Which candidates pass the filters (and still exist), with their titles: whole rows only for the page.
  const titles = catalog
    ? await availableTitles(db, catalog, candidateIds, now)
    : await findItemTitles(db, candidateIds, request.filters, { now });
  // Matches from memory carry no title (and one without a row, an item deleted since the index last caught
  // up, goes).
  const textMatches: TextMatch[] = foundMatches.flatMap((match) => {
    const title = 'title' in match ? match.title : titles.get(match.itemId);
    return typeof title === 'string' ? [{ ...match, title }] : [];
  });
  const titleMatches = rankTitleMatches(request.query, textMatches);

  const interest = stored && heaviestInterest(stored.profile, stored.embedding_model, deps.space);
  const tasteIds = interest ? await closestFirst(deps, [...titles.keys()], interest.vector) : [];

  const queryLists: RankedList<ListName>[] = [
    { name: 'text', weight: LIST_WEIGHTS.text, ids: textMatches.map((match) => match.itemId) },
    { name: 'title', weight: LIST_WEIGHTS.title, ids: titleMatches.ranked },
    { name: 'vector', weight: LIST_WEIGHTS.vector, ids: nearest.map((entry) => entry.itemId) },
  ];
  const order = (lists: RankedList<ListName>[]) => {
    const fused = reciprocalRankFusion(lists).filter((item) => titles.has(item.id));
    // Whole-title matches first; each part keeps the fused order.
    return [
      ...fused.filter((item) => titleMatches.exact.has(item.id)),
      ...fused.filter((item) => !titleMatches.exact.has(item.id)),
    ];
  };
  const ordered = order([...queryLists, { name: 'taste', weight: LIST_WEIGHTS.taste, ids: tasteIds }]);
  // Where each item would be on the query alone: the taste reason is given to the items it moved up.
  const queryOnly = interest ? new Map(order(queryLists).map((item, index) => [item.id, index])) : undefined;

  const textById = new Map(textMatches.map((match) => [match.itemId, match]));
  const shown = ordered.slice(0, request.limit);
  const rows = await findItemRows(
    db,
    shown.map((item) => item.id),
  );
  return {
    searchId: randomUUID(),
    items: scaleScores(
      shown.flatMap((item, index) => {
        const row = rows.get(item.id);
        if (!row) return []; // deleted meanwhile
        const raisedByTaste =
          interest && (queryOnly?.get(item.id) ?? Infinity) > index ? interest : undefined;
        return [
          {
            itemId: item.id,
            score: item.score,
            item: toItem(row),
            reasons: reasonsFor(item, request.query, textById.get(item.id), raisedByTaste),
          },
        ];
      }),
    ),
    nextCursor: null,
  };
}

/**
 * The titles of the candidates available now, from the catalog in memory; those it does not hold (added since
 * it was read) from the database. In the candidates' order, as findItemTitles gives them.
 */
async function availableTitles(
  db: Kysely<Database>,
  catalog: HeldCatalog,
  ids: readonly string[],
  now: Date | undefined,
): Promise<Map<string, string>> {
  const at = (now ?? new Date()).getTime();
  const unknown = ids.filter((id) => !catalog.get(id));
  const fromDatabase = unknown.length > 0 ? await findItemTitles(db, unknown, {}, { now }) : undefined;
  const titles = new Map<string, string>();
  for (const id of ids) {
    const entry = catalog.get(id);
    if (entry) {
      if (availableAt(entry, at)) titles.set(id, entry.title);
    } else {
      const title = fromDatabase?.get(id);
      if (title !== undefined) titles.set(id, title);
    }
  }
  return titles;
}

/** Item ids by closeness to `vector` (cosine), closest first; items without a vector are left out. */
async function closestFirst(
  deps: SearchDependencies,
  itemIds: readonly string[],
  vector: readonly number[],
): Promise<string[]> {
  const vectors = deps.model
    ? await deps.model.vectorsOf(itemIds)
    : new Map(
        [...(await findItemSummaries(deps.db, itemIds, { withEmbeddings: true }))].flatMap(([id, summary]) =>
          summary.embedding ? [[id, summary.embedding] as const] : [],
        ),
      );
  return [...vectors]
    .map(([id, itemVector]) => ({ id, similarity: cosine(vector, itemVector) }))
    .sort((a, b) => b.similarity - a.similarity || (a.id < b.id ? -1 : 1))
    .map((entry) => entry.id);
}

/**
 * The text matches whose title alone matches the query, those whose whole title is the query first, then
 * by rank; and the ids of the whole-title ones.
 */
export function rankTitleMatches(
  query: string,
  matches: readonly TextMatch[],
): { ranked: string[]; exact: Set<string> } {
  const wanted = normaliseTitle(query);
  const exact = new Set(
    matches.filter((match) => match.inTitle && normaliseTitle(match.title) === wanted).map((m) => m.itemId),
  );
  const ranked = matches
    .filter((match) => match.inTitle)
    .sort((a, b) => Number(exact.has(b.itemId)) - Number(exact.has(a.itemId)) || b.rank - a.rank)
    .map((match) => match.itemId);
  return { ranked, exact };
}

/** Lower case, punctuation and spacing ignored: "Stranger Things!" is the title "stranger  things". */
export function normaliseTitle(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

type Interest = StoredProfile['interests'][number];

/** The heaviest interest, if the profile has one in the items' embedding space. */
function heaviestInterest(
  profile: StoredProfile,
  embeddingModel: string | null,
  space: EmbeddingSpace,
): Interest | undefined {
  if (embeddingModel !== null && embeddingModel !== space.model) return undefined;
  const [heaviest] = [...(profile.interests ?? [])]
    .filter((interest) => interest.vector.length === space.dimension && interest.weight > 0)
    .sort((a, b) => b.weight - a.weight);
  return heaviest;
}

function cosine(a: readonly number[], b: Float32Array): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let index = 0; index < a.length; index++) {
    const x = a[index] ?? 0;
    const y = b[index] ?? 0;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return normA > 0 && normB > 0 ? dot / Math.sqrt(normA * normB) : 0;
}

/** Why the item is there, the list that contributed most first. */
function reasonsFor(
  item: FusedItem<ListName>,
  query: string,
  text: TextMatch | undefined,
  raisedByTaste: Interest | undefined,
): RecommendedItem['reasons'] {
  const reasons: { weight: number; reason: RecommendedItem['reasons'][number] }[] = [];
  const share = (names: readonly ListName[]) =>
    item.contributions.filter((part) => names.includes(part.name)).reduce((sum, part) => sum + part.score, 0);
  if (text) {
    reasons.push({
      weight: share(['text', 'title']),
      reason: {
        source: 'search',
        detail: `Matches "${query}"${matchedFieldWords[matchedField(text)]}`,
        evidenceItemIds: [],
        query,
        match: matchedField(text),
      },
    });
  }
  const vector = item.contributions.find((part) => part.name === 'vector');
  if (vector) {
    reasons.push({
      weight: vector.score,
      reason: {
        source: 'search',
        detail: `Close in meaning to "${query}"`,
        evidenceItemIds: [],
        query,
        match: 'meaning',
      },
    });
  }
  const taste = item.contributions.find((part) => part.name === 'taste');
  if (taste && raisedByTaste) {
    reasons.push({
      weight: taste.score,
      reason: {
        source: 'vector',
        detail: 'Close to your taste',
        evidenceItemIds: [...raisedByTaste.itemIds],
      },
    });
  }
  return reasons.sort((a, b) => b.weight - a.weight).map((entry) => entry.reason);
}

function matchedField(text: TextMatch): Exclude<SearchMatch, 'meaning'> {
  if (text.inTitle) return 'title';
  if (text.inCredits) return 'credits';
  if (text.inLabels) return 'labels';
  if (text.inDescription) return 'description';
  return 'any';
}

const matchedFieldWords: Record<Exclude<SearchMatch, 'meaning'>, string> = {
  title: ' in the title',
  credits: ' in the cast and crew',
  labels: ' in the genres and tags',
  description: ' in the description',
  any: '',
};
