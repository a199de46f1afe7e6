import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.ts';
import type { EndedImport } from '../ingest/import-batch.ts';
import {
  createModelTrainingQueue,
  type ModelTrainingQueue,
  type ModelTrainingWorker,
  startModelTrainingWorker,
} from '../jobs/bullmq-model-queue.ts';
import {
  needsInitialTraining,
  trainModels,
  type TrainingOutcome,
} from '../services/model-training.service.ts';

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
  /** Asks for a training soon, without waiting: here (embedded) or on any worker (served); coalesced. */
  request(reason: string): void;
  /** For the imports plugin: an events import brings new events, so the models retrain. */
  importEnded(ended: EndedImport): void;
}

// The start-up check waits a little, so that a server's first requests do not queue behind it.
const STARTUP_CHECK_DELAY_MS = 5_000;

/**
 * Keeps the collaborative model and the trending statistics fresh: every `modelRefreshMinutes`, after an
 * events import, and at start-up when events exist but nothing was trained; with `modelRefreshMinutes` 0,
 * only when asked (trainNow, the admin route, `marquee train`). Embedded, trainings run in this process; with
 * Redis they are jobs on the "models" queue for `marquee worker` processes (and this one when
 * `jobs.apiConcurrency` > 0), and the refresh is a BullMQ job scheduler, so replicas do not each train.
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
    const minutes = options.recommender.modelRefreshMinutes;
    const automatic = minutes > 0;
    const stopping = new AbortController();
    const runner = createCoalescingRunner(async (): Promise<TrainingOutcome> => {
      if (stopping.signal.aborted) return { skipped: true, reason: 'the server is shutting down' };
      const outcome = await trainModels(app.db, options.recommender, {
        logger: app.log,
        signal: stopping.signal,
      });
      app.log.info(outcome, outcome.skipped ? 'model training skipped' : 'models trained');
      // New neighbours and trending scores: every cached page is stale.
      if (!outcome.skipped) await app.pageCache.invalidateCatalog();
      return outcome;
    });

    let queue: ModelTrainingQueue | undefined;
    let worker: ModelTrainingWorker | undefined;
    // Jobs exist only for automatic trainings (schedule, after imports); trainNow runs here. Without them no
    // queue or worker connects to Redis at all.
    if (options.redis && automatic) {
      queue = createModelTrainingQueue(options.redis, app.log);
      if (options.jobs.apiConcurrency > 0)
        worker = startModelTrainingWorker({
          train: () => runner.run(),
          redis: options.redis,
          lockMs: options.jobs.lockMs,
          logger: app.log,
        });
    }

    const request = (reason: string) => {
      if (stopping.signal.aborted) return;
      const queued = queue ? queue.request(reason) : runner.run();
      queued.catch((error: unknown) => {
        if (!stopping.signal.aborted) app.log.warn({ err: error, reason }, 'model training failed');
      });
    };
    app.decorate('modelTraining', {
      trainNow: () => runner.run(),
      request,
      importEnded(ended) {
        if (automatic && ended.kind === 'events') request(`import ${ended.importId}`);
      },
    } satisfies ModelTrainingService);

    let refresh: NodeJS.Timeout | undefined;
    let startupCheck: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      if (queue) {
        // Not awaited: a Redis that is down must not hold up start-up (BullMQ waits for it forever).
        queue
          .schedule(minutes)
          .catch((error: unknown) => app.log.warn({ err: error }, 'could not schedule model training'));
      } else if (automatic) {
        refresh = setInterval(() => request('schedule'), minutes * 60_000);
        refresh.unref();
      }
      if (!automatic) return;
      startupCheck = setTimeout(() => {
        needsInitialTraining(app.db)
          .then((needed) => needed && request('start-up'))
          .catch((error: unknown) => app.log.warn({ err: error }, 'could not check the models'));
      }, STARTUP_CHECK_DELAY_MS);
      startupCheck.unref();
    });
    app.addHook('onClose', async () => {
      clearInterval(refresh);
      clearTimeout(startupCheck);
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
