import { Queue } from 'bullmq';
import { pino } from 'pino';
import t from 'tap';
import { bullmqOptions } from '../../src/jobs/bullmq-import-queue.ts';
import {
  createModelTrainingQueue,
  MODEL_QUEUE_NAME,
  startModelTrainingWorker,
} from '../../src/jobs/bullmq-model-queue.ts';
import type { TrainingOutcome, TrainingTrigger } from '../../src/services/model-training.service.ts';
import { redisUrl, uniqueTestName } from '../helpers/test-app.ts';
import { until } from '../helpers/wait.ts';

t.test(
  'model jobs: a busy skip goes back to the queue, nothing to do is done',
  { skip: redisUrl ? false : 'needs REDIS_URL (the served-mode run)' },
  async (t) => {
    const redis = { url: redisUrl!, keyPrefix: uniqueTestName('redis') };
    const outcomes: TrainingOutcome[] = [
      { skipped: true, busy: false, reason: 'the last training covers every event' },
      { skipped: true, busy: true, reason: 'another process is training the models' },
    ];
    const triggers: TrainingTrigger[] = [];
    const worker = startModelTrainingWorker({
      train: async (trigger) => {
        triggers.push(trigger);
        return outcomes.shift() ?? { skipped: true, busy: false, reason: 'done' };
      },
      redis,
      lockMs: 30_000,
      logger: pino({ level: 'silent' }),
    });
    const queue = createModelTrainingQueue(redis);
    const inspect = new Queue(MODEL_QUEUE_NAME, bullmqOptions(redis));
    t.teardown(async () => {
      await worker.close();
      await queue.close();
      await inspect.obliterate({ force: true });
      await inspect.close();
    });

    await queue.request({ reason: 'scheduled', skipIfCovered: true, startedDuringWrites: false });
    await until(
      async () => ((await inspect.getJobCounts('completed')).completed === 1 ? true : undefined),
      'the job to complete',
      10_000,
    );
    t.same(triggers, [{ reason: 'scheduled', skipIfCovered: true, startedDuringWrites: false }]);

    await queue.request({ reason: 'erasure' });
    await until(
      async () => ((await inspect.getJobCounts('delayed')).delayed === 1 ? true : undefined),
      'the job to be delayed',
      10_000,
    );
    const [delayed] = await inspect.getJobs(['delayed']);
    t.equal(delayed?.attemptsMade, 0, 'a busy skip spends no attempt');
    t.equal(triggers.length, 2);
  },
);
