import type { FastifyBaseLogger as Logger } from 'fastify';
import type { Kysely } from 'kysely';
import type { RecommenderConfig } from '../config.ts';
import type { Database } from '../db/database.ts';
import {
  buildInteractionMatrix,
  type Interaction,
  type InteractionMatrix,
  internId,
  itemDegrees,
} from '../recommender/interactions.ts';
import { EASE_DEFAULTS, ease } from '../recommender/strategies/ease.ts';
import { itemKnn } from '../recommender/strategies/item-knn.ts';
import { rp3beta } from '../recommender/strategies/rp3beta.ts';
import type { ScoredItem } from '../recommender/top-k.ts';
import { getMetaValue, setMetaValue } from '../repositories/meta.repository.ts';
import {
  analyzeEventsIfEmbedded,
  findLatestEventTime,
  hasEvents,
  hasItemStats,
  type ItemNeighbourRow,
  type ItemStatsRow,
  listItemIds,
  replaceItemNeighbours,
  replaceItemStats,
  streamTrainingEvents,
  withTrainingLock,
} from '../repositories/model-data.repository.ts';

/** marquee_meta key of the last training: `{ at, events, model }`. */
export const MODELS_TRAINED_KEY = 'models_trained';

/** Half-lives of the trending scores, in days. */
export const TRENDING_HALF_LIVES = { day: 1, week: 7, month: 30 } as const;

// Only each user's latest items build the item-item model: its cost grows with the square of a history, and
// one account with 50,000 events (a bot, a shared screen) would otherwise cost more than everyone else.
const MAX_USER_ITEMS = 1_000;
const DAY_MS = 24 * 60 * 60 * 1000;

export type CollaborativeModelName = RecommenderConfig['collaborativeModel'];

export interface TrainingSummary {
  skipped: false;
  /** Positive events read (of items still in the catalog). */
  events: number;
  /** Users and items with at least one positive event. */
  users: number;
  items: number;
  /** Distinct (user, item) pairs the model trained on. */
  pairs: number;
  neighbourRows: number;
  statsRows: number;
  /** The model trained (item-knn when EASE was configured but the catalog is too large for it). */
  model: CollaborativeModelName;
  /** When the training finished (ISO 8601). */
  trainedAt: string;
  durationMs: number;
}

export type TrainingOutcome = TrainingSummary | { skipped: true; reason: string };

export interface TrainingOptions {
  logger?: Logger;
  /** Stops the training between pages of events and before it writes (it throws the signal's reason). */
  signal?: AbortSignal;
  /** Events per keyset page (tests use small pages). */
  pageSize?: number;
}

// Trainings under way in this process, by database: the advisory lock cannot tell them apart on the
// embedded database's single session.
const trainingHere = new WeakSet<Kysely<Database>>();

/**
 * Trains the collaborative model and the popularity and trending statistics from the events table and
 * replaces item_neighbours and item_stats with the result (each atomically). Returns `{ skipped: true }` at
 * once when another training holds the lock (in this process or another).
 *
 * Memory: the ids of users and items, 16 bytes per positive event while reading, then the matrix builder's
 * working arrays (about 50 bytes per event, briefly), the matrix (32 bytes per distinct pair) and the model;
 * never one object per event held at once. Measured: about 450 MB peak RSS for 800,000 positive events.
 */
export async function trainModels(
  db: Kysely<Database>,
  config: Pick<RecommenderConfig, 'eventWeights' | 'collaborativeModel' | 'collaborativeNeighbours'>,
  options: TrainingOptions = {},
): Promise<TrainingOutcome> {
  if (trainingHere.has(db)) return { skipped: true, reason: 'a training is already running in this process' };
  trainingHere.add(db);
  try {
    const outcome = await withTrainingLock(db, (session) => train(session, config, options));
    return outcome.locked
      ? outcome.value
      : { skipped: true, reason: 'another process is training the models' };
  } finally {
    trainingHere.delete(db);
  }
}

/** True when there are events but no trained model yet: the first start after an import, or an upgrade. */
export async function needsInitialTraining(db: Kysely<Database>): Promise<boolean> {
  if (!(await hasEvents(db))) return false;
  return (await getMetaValue(db, MODELS_TRAINED_KEY)) === undefined || !(await hasItemStats(db));
}

async function train(
  db: Kysely<Database>,
  config: Pick<RecommenderConfig, 'eventWeights' | 'collaborativeModel' | 'collaborativeNeighbours'>,
  options: TrainingOptions,
): Promise<TrainingSummary> {
  const started = performance.now();
  const { signal, logger } = options;
  // Trending decays from the latest event rather than from now, so that a catalog of imported history
  // still has a trending row.
  const anchor = (await findLatestEventTime(db))?.getTime() ?? Date.now();
  await analyzeEventsIfEmbedded(db);
  const data = await readPositiveEvents(db, config, anchor, options);
  signal?.throwIfAborted();
  const read = performance.now();

  const matrix = buildInteractionMatrix(data.interactions(), {
    userIds: data.userIds,
    itemIds: data.itemIds,
    duplicates: 'max',
  });
  const built = performance.now();
  const { model, similar } = trainCollaborative(matrix, config, logger);
  signal?.throwIfAborted();
  const trained = performance.now();

  const users = itemDegrees(matrix);
  const statsRows = function* (): Generator<ItemStatsRow> {
    for (let i = 0; i < matrix.itemIds.length; i++) {
      yield {
        itemId: matrix.itemIds[i]!,
        interactions: data.perItem[i]!,
        users: users[i]!,
        popularity: users[i]!,
        trendingDay: data.trending.day[i]!,
        trendingWeek: data.trending.week[i]!,
        trendingMonth: data.trending.month[i]!,
      };
    }
  };
  const neighbourRows = function* (): Generator<ItemNeighbourRow> {
    for (let i = 0; i < matrix.itemIds.length; i++) {
      const neighbours = similar(i);
      if (neighbours.length === 0) continue;
      yield {
        itemId: matrix.itemIds[i]!,
        neighbourIds: neighbours.map((neighbour) => matrix.itemIds[neighbour.itemIndex]!),
        scores: neighbours.map((neighbour) => neighbour.score),
      };
    }
  };
  // Each table switches atomically on its own (the embedded database cannot hold one transaction that
  // long without stalling the API); the marquee_meta record comes last, once both are in.
  const neighbourCount = await replaceItemNeighbours(db, neighbourRows(), model);
  const statsCount = await replaceItemStats(db, statsRows());
  const trainedAt = new Date();
  await setMetaValue(db, MODELS_TRAINED_KEY, { at: trainedAt.toISOString(), events: data.events, model });
  logger?.debug(
    {
      readMs: Math.round(read - started),
      matrixMs: Math.round(built - read),
      trainMs: Math.round(trained - built),
      writeMs: Math.round(performance.now() - trained),
    },
    'model training phases',
  );
  return {
    skipped: false,
    events: data.events,
    users: matrix.userIds.length,
    items: matrix.itemIds.length,
    pairs: matrix.nnz,
    neighbourRows: neighbourCount,
    statsRows: statsCount,
    model,
    trainedAt: trainedAt.toISOString(),
    durationMs: Math.round(performance.now() - started),
  };
}

/**
 * Reads the positive events of catalog items page by page into compact arrays (user and item as indices
 * into interned id lists), counting each item's interactions and decayed trending sums on the way.
 */
async function readPositiveEvents(
  db: Kysely<Database>,
  config: Pick<RecommenderConfig, 'eventWeights'>,
  anchor: number,
  { signal, pageSize }: TrainingOptions,
) {
  // Every event type with a positive weight says "this user wanted this item", whatever its value (a low
  // rating is still a choice to watch): the model is binary.
  const types = Object.entries(config.eventWeights)
    .filter(([, weight]) => weight !== undefined && weight > 0)
    .map(([type]) => type);
  const catalog = await listItemIds(db);
  const userIds: string[] = [];
  const itemIds: string[] = [];
  const userIndex = new Map<string, number>();
  const itemIndex = new Map<string, number>();
  const intern = internId;
  let eventUsers = new Uint32Array(1 << 16);
  let eventItems = new Uint32Array(1 << 16);
  let eventTimes = new Float64Array(1 << 16);
  let events = 0;
  const perItem: number[] = [];
  const trending = { day: [] as number[], week: [] as number[], month: [] as number[] };
  // Stored as real (float4): a weight below its smallest normal value (about 1e-38) is refused by
  // Postgres, so anything that old counts as nothing.
  const decay = (ageDays: number, halfLife: number) => {
    const weight = 0.5 ** (ageDays / halfLife);
    return weight < 1e-30 ? 0 : weight;
  };

  for await (const page of streamTrainingEvents(db, { types, ...(pageSize && { pageSize }) })) {
    signal?.throwIfAborted();
    if (events + page.length > eventUsers.length) {
      const size = Math.max(eventUsers.length * 2, events + page.length);
      eventUsers = grow(eventUsers, size);
      eventItems = grow(eventItems, size);
      eventTimes = grow(eventTimes, size);
    }
    for (const row of page) {
      if (!catalog.has(row.item_id)) continue;
      const item = intern(itemIds, itemIndex, row.item_id);
      const time = row.occurred_at_ms;
      eventUsers[events] = intern(userIds, userIndex, row.user_id);
      eventItems[events] = item;
      eventTimes[events] = time;
      events++;
      // An event that arrived after the anchor was read counts as of the anchor.
      const ageDays = Math.max(0, anchor - time) / DAY_MS;
      perItem[item] = (perItem[item] ?? 0) + 1;
      trending.day[item] = (trending.day[item] ?? 0) + decay(ageDays, TRENDING_HALF_LIVES.day);
      trending.week[item] = (trending.week[item] ?? 0) + decay(ageDays, TRENDING_HALF_LIVES.week);
      trending.month[item] = (trending.month[item] ?? 0) + decay(ageDays, TRENDING_HALF_LIVES.month);
    }
  }
  return {
    events,
    userIds,
    itemIds,
    perItem,
    trending,
    /** The events as the matrix builder takes them: one short-lived object at a time. */
    *interactions(): Generator<Interaction> {
      for (let e = 0; e < events; e++)
        yield { userId: userIds[eventUsers[e]!]!, itemId: itemIds[eventItems[e]!]!, time: eventTimes[e]! };
    },
  };
}

function trainCollaborative(
  matrix: InteractionMatrix,
  config: Pick<RecommenderConfig, 'collaborativeModel' | 'collaborativeNeighbours'>,
  logger: Logger | undefined,
): { model: CollaborativeModelName; similar: (itemIndex: number) => ScoredItem[] } {
  const k = config.collaborativeNeighbours;
  if (config.collaborativeModel === 'ease') {
    if (matrix.itemIds.length <= EASE_DEFAULTS.maxItems) {
      const model = ease.train(matrix);
      return { model: 'ease', similar: (i) => ease.similarItems(model, i, k) };
    }
    logger?.warn(
      { items: matrix.itemIds.length, maxItems: EASE_DEFAULTS.maxItems },
      'too many items for EASE (a dense items × items model): training item-knn instead',
    );
  }
  if (config.collaborativeModel === 'rp3beta') {
    const model = rp3beta.train(matrix, { neighbours: k, maxUserItems: MAX_USER_ITEMS });
    return { model: 'rp3beta', similar: (i) => rp3beta.similarItems(model, i, k) };
  }
  const model = itemKnn.train(matrix, { neighbours: k, maxUserItems: MAX_USER_ITEMS });
  return { model: 'item-knn', similar: (i) => itemKnn.similarItems(model, i, k) };
}

function grow<T extends Uint32Array | Float64Array>(array: T, length: number): T {
  const grown = new (array.constructor as new (length: number) => T)(length);
  grown.set(array);
  return grown;
}
