import type { RecommenderConfig } from '../config.ts';
import { buildInteractionMatrix, type Interaction, type InteractionMatrix } from './interactions.ts';
import { EASE_DEFAULTS, ease } from './strategies/ease.ts';
import { itemKnn } from './strategies/item-knn.ts';
import { rp3beta } from './strategies/rp3beta.ts';
import { encodeRankingArtifact } from './ranking/ranking-artifact.ts';
import {
  buildRankingCatalog,
  type LoggedInteraction,
  type ShownList,
  type RankerTrainingReport,
  type RankingModel,
  trainRanker,
} from './ranking/ranker-training.ts';
import type { ScoredItem } from './top-k.ts';

export type CollaborativeModelName = RecommenderConfig['collaborativeModel'];

// Only each user's latest items build the item-item model: its cost grows with the square of a history, and
// one account with 50,000 events (a bot, a shared screen) would otherwise cost more than everyone else.
const MAX_USER_ITEMS = 1_000;

/**
 * The positive events a training read, in compact arrays: event e is user `userIds[eventUsers[e]]` on item
 * `itemIds[eventItems[e]]` at `eventTimes[e]` (epoch ms), for e below `events` (the arrays may be longer).
 */
export interface CollaborativeTrainingInput {
  model: CollaborativeModelName;
  /** Neighbours kept per item. */
  neighbours: number;
  userIds: string[];
  itemIds: string[];
  events: number;
  eventUsers: Uint32Array<ArrayBuffer>;
  eventItems: Uint32Array<ArrayBuffer>;
  eventTimes: Float64Array<ArrayBuffer>;
  /** When set, the learned ranker trains too, from the same events. */
  ranker?: RankerTrainingRequest | undefined;
}

/** What the learned ranker needs beyond the events' users, items and times. */
export interface RankerTrainingRequest {
  /** Event e's rating on a 0-1 scale, NaN when it was not a rating. */
  eventRatings: Float32Array<ArrayBuffer>;
  /** 1 when event e says the user liked the item (the ranker's label). */
  eventLiked: Uint8Array<ArrayBuffer>;
  /** Genre ids of each item of `itemIds`. */
  itemGenres: number[][];
  /** Release year of each item of `itemIds`, NaN unknown. */
  itemYears: Float32Array<ArrayBuffer>;
  /** Type id of each item, NaN unknown. */
  itemTypes?: Float32Array<ArrayBuffer> | undefined;
  /** People ids of each item: directors first, then the cast in billing order. */
  itemCredits?: number[][] | undefined;
  /** Content vectors of the items, `dimension` floats each (zeros: none). */
  itemVectors?: { dimension: number; data: Float32Array<ArrayBuffer> } | undefined;
  /** The ranker in service, to measure the new one against. */
  previous?: RankingModel | undefined;
  /** Lists shown to users and what they acted on (impressions joined to later events). */
  impressions?: ShownList[] | undefined;
}

export interface TrainedRanker {
  model: RankingModel;
  report: RankerTrainingReport;
  /** The ranking catalog over `itemIds` (ranking-artifact.ts), trained on every event. */
  artifact: Uint8Array<ArrayBuffer>;
}

/** Each item's nearest neighbours, as indices into the input's `itemIds`: typed arrays, cheap to transfer. */
export interface NeighbourLists {
  /** The model trained: item-knn when EASE was asked for but there are more items than it takes. */
  model: CollaborativeModelName;
  easeTooLarge: boolean;
  /** Users, items and distinct (user, item) pairs of the matrix. */
  users: number;
  items: number;
  pairs: number;
  /** Item i's neighbours, best first, are entries `offsets[i]` to `offsets[i + 1]` of the two arrays below. */
  offsets: Uint32Array<ArrayBuffer>;
  neighbourIndices: Uint32Array<ArrayBuffer>;
  scores: Float64Array<ArrayBuffer>;
}

/** What the training thread posts: the lists first, then the ranker when one was asked for. */
export type TrainingThreadMessage =
  { kind: 'lists'; lists: NeighbourLists } | { kind: 'ranker'; ranker: TrainedRanker };

/**
 * Builds the interaction matrix (binary: repeated events of a pair count once) and trains the configured
 * item-item model on it. Pure and synchronous: seconds of CPU for a million events, which is why the
 * service runs it on a worker thread (collaborative-training.worker.ts).
 */
export function trainNeighbourLists(input: CollaborativeTrainingInput): NeighbourLists {
  const matrix = buildInteractionMatrix(eventsOf(input), {
    userIds: input.userIds,
    itemIds: input.itemIds,
    duplicates: 'max',
  });
  const { model, easeTooLarge, similar } = trainModel(matrix, input);
  const offsets = new Uint32Array(matrix.itemIds.length + 1);
  const lists: ScoredItem[][] = [];
  let total = 0;
  for (let i = 0; i < matrix.itemIds.length; i++) {
    const list = similar(i);
    lists.push(list);
    total += list.length;
    offsets[i + 1] = total;
  }
  const neighbourIndices = new Uint32Array(total);
  const scores = new Float64Array(total);
  lists.forEach((list, i) => {
    list.forEach((neighbour, n) => {
      neighbourIndices[offsets[i]! + n] = neighbour.itemIndex;
      scores[offsets[i]! + n] = neighbour.score;
    });
  });
  return {
    model,
    easeTooLarge,
    users: matrix.userIds.length,
    items: matrix.itemIds.length,
    pairs: matrix.nnz,
    offsets,
    neighbourIndices,
    scores,
  };
}

/** The learned ranker from the same events (its own temporal cuts and catalog), and its artefact. */
export function trainRankerFrom(
  input: CollaborativeTrainingInput,
  request: RankerTrainingRequest,
): TrainedRanker {
  const log: LoggedInteraction[] = [];
  for (let e = 0; e < input.events; e++) {
    const rating = request.eventRatings[e]!;
    log.push({
      userId: input.userIds[input.eventUsers[e]!]!,
      itemId: input.itemIds[input.eventItems[e]!]!,
      time: input.eventTimes[e]!,
      rating: Number.isNaN(rating) ? undefined : rating,
      liked: request.eventLiked[e] === 1,
    });
  }
  const facts = {
    itemIds: input.itemIds,
    genres: request.itemGenres,
    releaseYears: request.itemYears,
    types: request.itemTypes,
    credits: request.itemCredits,
    vectors: request.itemVectors,
  };
  const { model, report } = trainRanker(log, facts, {
    previous: request.previous,
    impressions: request.impressions,
  });
  const { catalog } = buildRankingCatalog(log, facts);
  const artifact = encodeRankingArtifact({ itemIds: input.itemIds, catalog }) as Uint8Array<ArrayBuffer>;
  return { model, report, artifact };
}

function* eventsOf(input: CollaborativeTrainingInput): Generator<Interaction> {
  const { userIds, itemIds, eventUsers, eventItems, eventTimes } = input;
  for (let e = 0; e < input.events; e++)
    yield { userId: userIds[eventUsers[e]!]!, itemId: itemIds[eventItems[e]!]!, time: eventTimes[e]! };
}

function trainModel(
  matrix: InteractionMatrix,
  { model: name, neighbours: k }: Pick<CollaborativeTrainingInput, 'model' | 'neighbours'>,
): { model: CollaborativeModelName; easeTooLarge: boolean; similar: (itemIndex: number) => ScoredItem[] } {
  const easeTooLarge = name === 'ease' && matrix.itemIds.length > EASE_DEFAULTS.maxItems;
  if (name === 'ease' && !easeTooLarge) {
    const model = ease.train(matrix);
    return { model: 'ease', easeTooLarge, similar: (i) => ease.similarItems(model, i, k) };
  }
  if (name === 'rp3beta') {
    const model = rp3beta.train(matrix, { neighbours: k, maxUserItems: MAX_USER_ITEMS });
    return { model: 'rp3beta', easeTooLarge, similar: (i) => rp3beta.similarItems(model, i, k) };
  }
  const model = itemKnn.train(matrix, { neighbours: k, maxUserItems: MAX_USER_ITEMS });
  return { model: 'item-knn', easeTooLarge, similar: (i) => itemKnn.similarItems(model, i, k) };
}
