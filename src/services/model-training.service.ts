import type { FastifyBaseLogger as Logger } from 'fastify';
import type { Kysely } from 'kysely';
import type { RecommenderConfig } from '../config.ts';
import type { Database } from '../db/database.ts';
import { positiveEventTypes } from '../event-types.ts';
import type {
  CollaborativeModelName,
  NeighbourLists,
  RankerTrainingRequest,
} from '../recommender/collaborative-training.ts';
import {
  CREDITS_PER_ITEM,
  promotionVerdict,
  type RankerTrainingReport,
  type RankingModel,
} from '../recommender/ranking/ranker-training.ts';
import {
  findRankingFacts,
  findServingRankerModel,
  findShownLists,
  insertRankerModel,
  listRankerModels,
  type StoredRanker,
} from '../repositories/ranker-models.repository.ts';
import type { RankerChoice } from '../config.ts';
import { startTrainingThread } from '../recommender/collaborative-training.thread.ts';
import { internId } from '../recommender/interactions.ts';
import { getMetaValue, setMetaValue } from '../repositories/meta.repository.ts';
import { streamItemVectors } from '../repositories/model-snapshot.repository.ts';
import {
  analyzeEventsIfEmbedded,
  countEvents,
  findLatestEventSeq,
  type ItemNeighbourRow,
  listItemIds,
  replaceItemNeighbours,
  streamTrainingEvents,
  withTrainingLock,
} from '../repositories/model-data.repository.ts';

export type { CollaborativeModelName } from '../recommender/collaborative-training.ts';

/**
 * marquee_meta key of the last training: a TrainingRecord. Read by the training scheduler, the model status
 * and the "new item" test of the candidates (items created after `at`).
 */
export const MODELS_TRAINED_KEY = 'models_trained';
/** marquee_meta key of the training under way (or that died): `{ at, reason }`. */
export const MODELS_TRAINING_KEY = 'models_training';
/** marquee_meta key of the last failed training: `{ at, reason, message }`. */
export const MODELS_FAILED_KEY = 'models_failed';

/** What the last training covered, as marquee_meta keeps it. */
export interface TrainingRecord {
  /** When it finished (ISO 8601). */
  at: string;
  /** Positive events it read. */
  events: number;
  model: CollaborativeModelName;
  /** The events table's latest seq when it started reading: it covers every event up to there. */
  coveredSeq?: string;
  /** Events of any type in the table then. */
  eventsTotal?: number;
  durationMs?: number;
  reason?: string;
  /** Events were still arriving when it started: one more training follows once they stop. */
  startedDuringWrites?: boolean;
}

/** Why a training runs, as the scheduler, a request or an operator says. */
export interface TrainingTrigger {
  reason: string;
  startedDuringWrites?: boolean;
  /**
   * Nothing to do when the last training covers every event and none was deleted since (the scheduler's
   * requests: two processes may ask for the same training). Manual trainings and erasures always train.
   */
  skipIfCovered?: boolean;
}

/** The learned ranker a training made, and whether it serves. */
export interface RankerTrainingSummary {
  id: string;
  serving: boolean;
  verdict: string;
  trees: number;
  seconds: number;
}

export interface TrainingSummary {
  skipped: false;
  /** Absent when MARQUEE_RANKER is blend. */
  ranker?: RankerTrainingSummary | undefined;
  /** Positive events read (of items still in the catalog). */
  events: number;
  /** Users and items with at least one positive event. */
  users: number;
  items: number;
  /** Distinct (user, item) pairs the model trained on. */
  pairs: number;
  neighbourRows: number;
  /** The latest event seq it covers (every event up to it was read). */
  coveredSeq: string;
  /** The model trained (item-knn when EASE was configured but the catalog is too large for it). */
  model: CollaborativeModelName;
  /** When the training finished (ISO 8601). */
  trainedAt: string;
  durationMs: number;
}

export interface TrainingSkipped {
  skipped: true;
  reason: string;
  /** Another training holds the lock (worth asking again later), rather than nothing to do. */
  busy: boolean;
}

export type TrainingOutcome = TrainingSummary | TrainingSkipped;

export interface TrainingOptions {
  logger?: Logger;
  /** Why it runs (recorded with it); "manual" when absent. */
  trigger?: TrainingTrigger;
  /** Stops the training between pages of events and before it writes (it throws the signal's reason). */
  signal?: AbortSignal;
  /** Events per keyset page (tests use small pages). */
  pageSize?: number;
}

// Trainings under way in this process, by database: the advisory lock cannot tell them apart on the
// embedded database's single session.
const trainingHere = new WeakSet<Kysely<Database>>();
/**
 * Shown lists with a click the ranker learns from, the most recent first: about 10 rows each, so at most
 * 200,000 rows next to the event log's queries.
 */
const MAX_SHOWN_LISTS = 20_000;

/**
 * Trains the collaborative model from the events table and replaces item_neighbours with the result
 * (atomically). Returns `{ skipped: true }` at once when another training holds the lock (in this process or
 * another). The popularity and trending statistics are not trained: they are live (item-stats.repository).
 *
 * Memory: the ids of users and items, 16 bytes per positive event while reading, then, on the training
 * thread, the matrix builder's working arrays (about 50 bytes per event, briefly), the matrix (32 bytes per
 * distinct pair) and the model; never one object per event held at once. Measured: about 450 MB peak RSS for 800,000 positive events.
 */
export async function trainModels(
  db: Kysely<Database>,
  config: TrainingConfig,
  options: TrainingOptions = {},
): Promise<TrainingOutcome> {
  if (trainingHere.has(db))
    return { skipped: true, busy: true, reason: 'a training is already running in this process' };
  trainingHere.add(db);
  try {
    const outcome = await withTrainingLock(db, async (session): Promise<TrainingOutcome> => {
      const trigger = options.trigger ?? { reason: 'manual' };
      if (trigger.skipIfCovered && (await coversEveryEvent(session)))
        return { skipped: true, busy: false, reason: 'the last training covers every event' };
      await setMetaValue(session, MODELS_TRAINING_KEY, {
        at: new Date().toISOString(),
        reason: trigger.reason,
      });
      try {
        return await train(session, config, options, trigger);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        await setMetaValue(session, MODELS_FAILED_KEY, {
          at: new Date().toISOString(),
          reason: trigger.reason,
          message: message.slice(0, 500),
        }).catch(() => undefined);
        throw error;
      }
    });
    return outcome.locked
      ? outcome.value
      : { skipped: true, busy: true, reason: 'another process is training the models' };
  } finally {
    trainingHere.delete(db);
  }
}

/** The last training read up to the latest event, and no event was deleted since. */
async function coversEveryEvent(db: Kysely<Database>): Promise<boolean> {
  const trained = (await getMetaValue(db, MODELS_TRAINED_KEY)) as TrainingRecord | undefined;
  if (trained?.coveredSeq === undefined || trained.eventsTotal === undefined) return false;
  const latestSeq = (await findLatestEventSeq(db)) ?? '0';
  return latestSeq === trained.coveredSeq && (await countEvents(db)) === trained.eventsTotal;
}

/** True while a training runs in this process on this database (the embedded database has no lock to ask). */
export function isTrainingHere(db: Kysely<Database>): boolean {
  return trainingHere.has(db);
}

export type TrainingConfig = Pick<
  RecommenderConfig,
  'eventWeights' | 'collaborativeModel' | 'collaborativeNeighbours' | 'ranker'
>;

async function train(
  db: Kysely<Database>,
  config: TrainingConfig,
  options: TrainingOptions,
  trigger: TrainingTrigger,
): Promise<TrainingSummary> {
  const started = performance.now();
  const { signal, logger } = options;
  await analyzeEventsIfEmbedded(db);
  // Everything up to this seq is read (events stored meanwhile wait for the next training).
  const coveredSeq = (await findLatestEventSeq(db)) ?? '0';
  const eventsTotal = await countEvents(db);
  const { rankerEvents, ...data } = await readPositiveEvents(db, config, coveredSeq, options);
  const ranker =
    config.ranker === 'learned'
      ? await rankerRequest(db, positiveEventTypes(config.eventWeights), data.itemIds, rankerEvents)
      : undefined;
  const read = performance.now();

  // The matrix and the models are seconds of CPU: on a thread of their own, so this process keeps serving.
  // The lists come first and are stored at once; the ranker (a minute or more) follows on the same thread.
  const thread = startTrainingThread(
    {
      model: config.collaborativeModel,
      neighbours: config.collaborativeNeighbours,
      ...data,
      ranker,
    },
    signal,
  );
  const lists = await thread.lists;
  if (lists.easeTooLarge)
    logger?.warn(
      { items: lists.items },
      'too many items for EASE (a dense items × items model): trained item-knn instead',
    );
  signal?.throwIfAborted();
  const trained = performance.now();
  const { model } = lists;
  const neighbourCount = await replaceItemNeighbours(db, neighbourRows(data.itemIds, lists), model);
  const trainedAt = new Date();
  const durationMs = Math.round(performance.now() - started);
  await setMetaValue(db, MODELS_TRAINED_KEY, {
    at: trainedAt.toISOString(),
    events: data.events,
    model,
    coveredSeq,
    eventsTotal,
    durationMs,
    reason: trigger.reason,
    startedDuringWrites: trigger.startedDuringWrites ?? false,
  } satisfies TrainingRecord);
  logger?.debug(
    {
      readMs: Math.round(read - started),
      trainMs: Math.round(trained - read),
      writeMs: Math.round(performance.now() - trained),
    },
    'model training phases',
  );
  // The lists serve from here on; the ranker, still training on the thread, is stored when it is done (the
  // training lock stays held until then).
  const trainedRanker = await thread.ranker;
  signal?.throwIfAborted();
  let rankerSummary: RankerTrainingSummary | undefined;
  if (trainedRanker) {
    const { model: rankerModel, report, artifact } = trainedRanker;
    const { serving, verdict } = promotionVerdict(report);
    const id = await insertRankerModel(db, {
      serving,
      verdict,
      report,
      model: rankerModel,
      catalog: artifact,
    });
    rankerSummary = { id, serving, verdict, trees: report.trees, seconds: report.seconds };
    logger?.info({ ranker: rankerSummary, heldBack: report.heldBack }, 'learned ranker trained');
  }
  return {
    skipped: false,
    ranker: rankerSummary,
    events: data.events,
    users: lists.users,
    items: lists.items,
    pairs: lists.pairs,
    neighbourRows: neighbourCount,
    coveredSeq,
    model,
    trainedAt: trainedAt.toISOString(),
    durationMs,
  };
}

/**
 * Reads the positive events of catalog items up to `coveredSeq`, page by page, into compact arrays (user and
 * item as indices into interned id lists).
 */
async function readPositiveEvents(
  db: Kysely<Database>,
  config: Pick<RecommenderConfig, 'eventWeights'>,
  coveredSeq: string,
  { signal, pageSize }: TrainingOptions,
) {
  // Every event type with a positive weight says "this user wanted this item", whatever its value (a low
  // rating is still a choice to watch): the model is binary.
  const types = positiveEventTypes(config.eventWeights);
  const catalog = await listItemIds(db);
  const userIds: string[] = [];
  const itemIds: string[] = [];
  const userIndex = new Map<string, number>();
  const itemIndex = new Map<string, number>();
  const intern = internId;
  let eventUsers = new Uint32Array(1 << 16);
  let eventItems = new Uint32Array(1 << 16);
  let eventTimes = new Float64Array(1 << 16);
  let eventRatings = new Float32Array(1 << 16);
  let eventLiked = new Uint8Array(1 << 16);
  let events = 0;

  for await (const page of streamTrainingEvents(db, {
    types,
    upToSeq: coveredSeq,
    ...(pageSize && { pageSize }),
  })) {
    signal?.throwIfAborted();
    if (events + page.length > eventUsers.length) {
      const size = Math.max(eventUsers.length * 2, events + page.length);
      eventUsers = grow(eventUsers, size);
      eventItems = grow(eventItems, size);
      eventTimes = grow(eventTimes, size);
      eventRatings = grow(eventRatings, size);
      eventLiked = grow(eventLiked, size);
    }
    for (const row of page) {
      if (!catalog.has(row.item_id)) continue;
      eventUsers[events] = intern(userIds, userIndex, row.user_id);
      eventItems[events] = intern(itemIds, itemIndex, row.item_id);
      eventTimes[events] = row.occurred_at_ms;
      eventRatings[events] = row.type === 'rate' && row.value !== null ? row.value / 5 : Number.NaN;
      eventLiked[events] = likedEvent(row.type, row.value) ? 1 : 0;
      events++;
    }
  }
  return {
    userIds,
    itemIds,
    events,
    eventUsers,
    eventItems,
    eventTimes,
    rankerEvents: { eventRatings, eventLiked },
  };
}

/** A stored ranker as GET /v1/admin/models describes it. */
export interface RankerDescription {
  id: string;
  trainedAt: string;
  serving: boolean;
  verdict: string;
  /** NDCG@10 on the users held back from its trees: it, the fusion it starts from, each source alone. */
  heldBack: Record<string, number>;
  heldBackUsers: number;
  /** The same on a global cut in time (models before the latest 10 % of events, labels after). */
  heldBackLater: Record<string, number>;
  heldBackLaterUsers: number;
  /** Shown lists with a click that it learned from (impressions joined to later events), and their clicks. */
  impressionLists: number;
  clicks: number;
  trees: number;
  trainingSeconds: number;
  /** The features its trees lean on most, with their share of the split gain. */
  strongestFeatures: { feature: string; share: number }[];
}

export interface RankerStatus {
  /** MARQUEE_RANKER: learned (trained with the models, serves once it wins) or blend. */
  setting: RankerChoice;
  /** The ranker in service, null while pages are blended. */
  serving: RankerDescription | null;
  /** The latest ranker trained, whether or not it serves (its verdict says why). */
  latest: RankerDescription | null;
}

export async function describeRankers(db: Kysely<Database>, setting: RankerChoice): Promise<RankerStatus> {
  const stored = await listRankerModels(db, 20);
  const serving = stored.find((ranker) => ranker.serving);
  return {
    setting,
    serving: serving ? describeRanker(serving) : null,
    latest: stored[0] ? describeRanker(stored[0]) : null,
  };
}

function numbersOf(record: object | undefined): Record<string, number> {
  return Object.fromEntries(
    Object.entries(record ?? {}).filter((entry): entry is [string, number] => typeof entry[1] === 'number'),
  );
}

function describeRanker(ranker: StoredRanker): RankerDescription {
  const report = (ranker.report ?? {}) as Partial<RankerTrainingReport>;
  return {
    id: ranker.id,
    trainedAt: ranker.trainedAt.toISOString(),
    serving: ranker.serving,
    verdict: ranker.verdict,
    heldBack: numbersOf(report.heldBack),
    heldBackUsers: report.heldBackQueries ?? 0,
    heldBackLater: numbersOf(report.later),
    heldBackLaterUsers: report.laterQueries ?? 0,
    impressionLists: report.impressionQueries ?? 0,
    clicks: report.clicks ?? 0,
    trees: report.trees ?? 0,
    trainingSeconds: report.seconds ?? 0,
    strongestFeatures: report.importance ?? [],
  };
}

/**
 * Whether an event says the user liked the item, the learned ranker's label: a rating of 4 or more out of
 * 5, half a title or more watched, and every other positive event (a play, a like, a purchase). Logs of
 * plays alone then label every later play.
 */
export function likedEvent(type: string, value: number | null): boolean {
  if (type === 'rate') return value !== null && value >= 4;
  if (type === 'progress') return value !== null && value >= 0.5;
  return true;
}

/** The catalog facts and the ranker in service, for the training thread. */
async function rankerRequest(
  db: Kysely<Database>,
  positiveTypes: readonly string[],
  itemIds: readonly string[],
  events: { eventRatings: Float32Array<ArrayBuffer>; eventLiked: Uint8Array<ArrayBuffer> },
): Promise<RankerTrainingRequest> {
  const [facts, previous, impressions, itemVectors] = await Promise.all([
    findRankingFacts(db),
    findServingRankerModel(db),
    findShownLists(db, positiveTypes, MAX_SHOWN_LISTS),
    readItemVectors(db, itemIds),
  ]);
  const genreId = idsOf<string>();
  const typeId = idsOf<string>();
  const personId = idsOf<string>();
  const people = (credits: readonly { name: string; role: string }[]) => {
    const directors = credits.filter((credit) => /direct/i.test(credit.role));
    const others = credits.filter((credit) => !/direct/i.test(credit.role));
    return [...directors, ...others]
      .slice(0, CREDITS_PER_ITEM)
      .map((credit) => personId(credit.name.trim().toLowerCase()));
  };
  return {
    ...events,
    itemGenres: itemIds.map((itemId) => (facts.get(itemId)?.genres ?? []).map(genreId)),
    itemYears: Float32Array.from(itemIds, (itemId) => facts.get(itemId)?.releaseYear ?? Number.NaN),
    itemTypes: Float32Array.from(itemIds, (itemId) => {
      const type = facts.get(itemId)?.type;
      return type === undefined ? Number.NaN : typeId(type);
    }),
    itemCredits: itemIds.map((itemId) => people(facts.get(itemId)?.credits ?? [])),
    itemVectors,
    previous: previous as RankingModel | undefined,
    impressions,
  };
}

/** Dense ids for the distinct values seen, in order of appearance. */
function idsOf<K>(): (key: K) => number {
  const ids = new Map<K, number>();
  return (key) => {
    let id = ids.get(key);
    if (id === undefined) ids.set(key, (id = ids.size));
    return id;
  };
}

/** The items' content vectors in one block (zeros for an item without one); undefined when none has one. */
async function readItemVectors(
  db: Kysely<Database>,
  itemIds: readonly string[],
): Promise<{ dimension: number; data: Float32Array<ArrayBuffer> } | undefined> {
  const index = new Map(itemIds.map((itemId, at) => [itemId, at]));
  let block: { dimension: number; data: Float32Array<ArrayBuffer> } | undefined;
  for await (const page of streamItemVectors(db))
    for (const row of page) {
      const at = index.get(row.itemId);
      if (at === undefined) continue;
      block ??= { dimension: row.vector.length, data: new Float32Array(itemIds.length * row.vector.length) };
      if (row.vector.length === block.dimension) block.data.set(row.vector, at * block.dimension);
    }
  return block;
}

function* neighbourRows(itemIds: readonly string[], lists: NeighbourLists): Generator<ItemNeighbourRow> {
  const { offsets, neighbourIndices, scores } = lists;
  for (let i = 0; i < lists.items; i++) {
    const from = offsets[i]!;
    const to = offsets[i + 1]!;
    if (from === to) continue;
    yield {
      itemId: itemIds[i]!,
      neighbourIds: Array.from(neighbourIndices.subarray(from, to), (neighbour) => itemIds[neighbour]!),
      scores: Array.from(scores.subarray(from, to)),
    };
  }
}

function grow<T extends Uint32Array | Float64Array | Float32Array | Uint8Array>(array: T, length: number): T {
  const grown = new (array.constructor as new (length: number) => T)(length);
  grown.set(array);
  return grown;
}
