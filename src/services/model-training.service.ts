import type { FastifyBaseLogger as Logger } from 'fastify';
import type { Kysely } from 'kysely';
import type { RecommenderConfig } from '../config.ts';
import type { Database } from '../db/database.ts';
import {
  buildInteractionMatrix,
  type Interaction,
  type InteractionMatrix,
  internId,
} from '../recommender/interactions.ts';
import { EASE_DEFAULTS, ease } from '../recommender/strategies/ease.ts';
import { itemKnn } from '../recommender/strategies/item-knn.ts';
import { rp3beta } from '../recommender/strategies/rp3beta.ts';
import type { ScoredItem } from '../recommender/top-k.ts';
import { positiveEventTypes } from '../event-types.ts';
import { setMetaValue } from '../repositories/meta.repository.ts';
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
}

// Only each user's latest items build the item-item model: its cost grows with the square of a history, and
// one account with 50,000 events (a bot, a shared screen) would otherwise cost more than everyone else.
const MAX_USER_ITEMS = 1_000;

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
  /** The latest event seq it covers (every event up to it was read). */
  coveredSeq: string;
  /** The model trained (item-knn when EASE was configured but the catalog is too large for it). */
  model: CollaborativeModelName;
  /** When the training finished (ISO 8601). */
  trainedAt: string;
  durationMs: number;
}

export type TrainingOutcome = TrainingSummary | { skipped: true; reason: string };

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
 * Trains the collaborative model from the events table and replaces item_neighbours with the result
 * (atomically). Returns `{ skipped: true }` at once when another training holds the lock (in this process or
 * another). The popularity and trending statistics are not trained: they are live (item-stats.repository).
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
    const outcome = await withTrainingLock(db, async (session) => {
      const trigger = options.trigger ?? { reason: 'manual' };
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
      : { skipped: true, reason: 'another process is training the models' };
  } finally {
    trainingHere.delete(db);
  }
}

/** True while a training runs in this process on this database (the embedded database has no lock to ask). */
export function isTrainingHere(db: Kysely<Database>): boolean {
  return trainingHere.has(db);
}

async function train(
  db: Kysely<Database>,
  config: Pick<RecommenderConfig, 'eventWeights' | 'collaborativeModel' | 'collaborativeNeighbours'>,
  options: TrainingOptions,
  trigger: TrainingTrigger,
): Promise<TrainingSummary> {
  const started = performance.now();
  const { signal, logger } = options;
  await analyzeEventsIfEmbedded(db);
  // Everything up to this seq is read (events stored meanwhile wait for the next training).
  const coveredSeq = (await findLatestEventSeq(db)) ?? '0';
  const eventsTotal = await countEvents(db);
  const data = await readPositiveEvents(db, config, coveredSeq, options);
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
  const neighbourCount = await replaceItemNeighbours(db, neighbourRows(), model);
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
    }
    for (const row of page) {
      if (!catalog.has(row.item_id)) continue;
      eventUsers[events] = intern(userIds, userIndex, row.user_id);
      eventItems[events] = intern(itemIds, itemIndex, row.item_id);
      eventTimes[events] = row.occurred_at_ms;
      events++;
    }
  }
  return {
    events,
    userIds,
    itemIds,
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
