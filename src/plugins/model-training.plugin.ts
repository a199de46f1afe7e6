import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.ts';
import { positiveEventTypes } from '../event-types.ts';
import {
  createModelTrainingQueue,
  type ModelTrainingQueue,
  type ModelTrainingWorker,
  startModelTrainingWorker,
} from '../jobs/bullmq-model-queue.ts';
import {
  findUserPositiveItemIds,
  itemStatsNeedRebuild,
  rebuildItemStats,
} from '../repositories/item-stats.repository.ts';
import { removeUnsupportedNeighbourPairs } from '../repositories/model-data.repository.ts';
import {
  describeRankers,
  type RankerStatus,
  trainModels,
  type TrainingOutcome,
  type TrainingTrigger,
} from '../services/model-training.service.ts';
import { type ModelStatus, startTrainingScheduler } from '../services/training-scheduler.ts';

declare module 'fastify' {
  interface FastifyInstance {
    modelTraining: ModelTrainingService;
  }
}

export interface ModelTrainingService {
  /**
   * Trains in this process now (or right after the training under way here, sharing one follow-up with
   * every other caller meanwhile) and resolves with the outcome: skipped when another process is training.
   */
  trainNow(): Promise<TrainingOutcome>;
  /**
   * Asks for a training soon, without waiting: here (embedded) or on any worker (served); coalesced. Only
   * when trainings are automatic (MARQUEE_MODEL_REFRESH_MINUTES > 0).
   */
  request(trigger: TrainingTrigger): void;
  /** What GET /v1/admin/models answers. */
  status(): Promise<ModelStatus>;
  /** The learned rankers: which serves, and the latest one's verdict. */
  rankers(): Promise<RankerStatus>;
  /** The items a user has positive events on: read before an erasure, for eventsDeleted. */
  itemsOfUser(userId: string): Promise<string[]>;
  /**
   * Events were deleted (an erasure, a retention purge): the statistics of their items (every item without
   * `itemIds`) are recomputed, neighbour pairs among `itemIds` that no one supports any more go, every
   * cached page is dropped, and (automatic trainings) a training is asked for.
   */
  eventsDeleted(change: { itemIds?: readonly string[]; reason: string }): Promise<void>;
}

/**
 * Keeps the collaborative model fresh without anyone asking (issue 18): a scheduler in each process watches
 * the events and asks for a training when the plan of src/services/training-scheduler.ts says so. Embedded,
 * trainings run in this process (off the request path: a page never waits for one); with Redis they are jobs
 * on the "models" queue for `marquee worker` processes (and this one when `jobs.apiConcurrency` > 0). With
 * MARQUEE_MODEL_REFRESH_MINUTES=0, only when asked (trainNow, the admin route, `marquee train`).
 *
 * Also brings the live item statistics up to date at start-up when they were built with other positive
 * event types (or by an older version).
 */
export const modelTrainingPlugin = fp(
  async (
    app: FastifyInstance,
    options: {
      recommender: Config['recommender'];
      jobs: Config['jobs'];
      redis: Config['redis'];
    },
  ) => {
    const automatic = options.recommender.modelRefreshMinutes > 0;
    const positiveTypes = positiveEventTypes(options.recommender.eventWeights);
    const stopping = new AbortController();
    let nextTrigger: TrainingTrigger = { reason: 'manual' };
    const runner = createCoalescingRunner(async (): Promise<TrainingOutcome> => {
      if (stopping.signal.aborted)
        return { skipped: true, busy: false, reason: 'the server is shutting down' };
      const trigger = nextTrigger;
      nextTrigger = { reason: 'manual' };
      const outcome = await trainModels(app.db, options.recommender, {
        logger: app.log,
        signal: stopping.signal,
        trigger,
      });
      app.log.info(
        { ...outcome, reason: trigger.reason },
        outcome.skipped ? 'model training skipped' : 'models trained',
      );
      // New neighbours: this process holds them before it answers, and every cached page is stale.
      if (!outcome.skipped) {
        await app.recommender.model?.refresh();
        await app.pageCache.invalidateCatalog();
      }
      return outcome;
    });
    const runHere = (trigger: TrainingTrigger) => {
      nextTrigger = trigger;
      return runner.run();
    };

    let queue: ModelTrainingQueue | undefined;
    let worker: ModelTrainingWorker | undefined;
    // Jobs exist only for automatic trainings; trainNow runs here. Without them no queue or worker connects
    // to Redis at all.
    if (options.redis && automatic) {
      queue = createModelTrainingQueue(options.redis, app.log);
      if (options.jobs.apiConcurrency > 0)
        worker = startModelTrainingWorker({
          train: runHere,
          redis: options.redis,
          lockMs: options.jobs.lockMs,
          logger: app.log,
        });
    }

    /** Asks for a training (a job, or a run here); failures are logged, never thrown. */
    const request = async (trigger: TrainingTrigger) => {
      if (stopping.signal.aborted || !automatic) return;
      try {
        await (queue ? queue.request(trigger) : runHere(trigger));
      } catch (error) {
        if (!stopping.signal.aborted) app.log.warn({ err: error, ...trigger }, 'model training failed');
      }
    };
    const scheduler = startTrainingScheduler({
      db: app.db,
      schedule: options.recommender,
      logger: app.log,
      request,
    });

    app.decorate('modelTraining', {
      trainNow: () => runHere({ reason: 'manual' }),
      request(trigger) {
        void request(trigger);
      },
      status: () => scheduler.status(),
      rankers: () => describeRankers(app.db, options.recommender.ranker),
      itemsOfUser: (userId) => findUserPositiveItemIds(app.db, userId, positiveTypes),
      async eventsDeleted({ itemIds, reason }) {
        await rebuildItemStats(app.db, positiveTypes, itemIds);
        if (itemIds) await removeUnsupportedNeighbourPairs(app.db, itemIds, positiveTypes);
        // This process's lists at once (other processes within their next poll, a second).
        await app.recommender.model?.refresh();
        await app.pageCache.invalidateCatalog();
        this.request({ reason });
      },
    } satisfies ModelTrainingService);

    app.addHook('onReady', async () => {
      // Before the first request: after an upgrade (or a change of the positive event types) the statistics
      // are rebuilt from the events (seconds for a million events), so that no page reads half of them.
      try {
        if (!(await itemStatsNeedRebuild(app.db, positiveTypes))) return;
        const rows = await rebuildItemStats(app.db, positiveTypes, undefined, { onlyIfStale: true });
        if (rows !== undefined && rows > 0)
          app.log.info({ items: rows, types: positiveTypes }, 'item statistics rebuilt from events');
      } catch (error) {
        app.log.warn({ err: error }, 'could not rebuild the item statistics');
      }
    });
    app.addHook('onClose', async () => {
      scheduler.stop();
      // A training stops at its next page of events or before it writes; what it has written stays.
      stopping.abort(new Error('the server is shutting down'));
      await worker?.close();
      await runner.idle();
      await queue?.close();
    });
  },
  { name: 'model-training', dependencies: ['database', 'recommender'] },
);

/**
 * Runs `task` one at a time. A call while it runs gets the one follow-up run that starts after it, shared
 * with every other call made meanwhile: any number of requests during a training cost one more training.
 */
export function createCoalescingRunner<T>(task: () => Promise<T>): {
  run(): Promise<T>;
  /** Resolves once nothing runs or waits to run. */
  idle(): Promise<void>;
} {
  let running: Promise<T> | undefined;
  let next: Promise<T> | undefined;
  const start = () => {
    const run = task().finally(() => {
      if (running === run) running = undefined;
    });
    running = run;
    return run;
  };
  return {
    run() {
      if (next) return next;
      if (!running) return start();
      next = running
        .catch(() => undefined)
        .then(() => {
          next = undefined;
          return start();
        });
      return next;
    },
    async idle() {
      while (running || next) await Promise.allSettled([running, next]);
    },
  };
}
