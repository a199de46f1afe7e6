import t from 'tap';
import type { TrainingRecord } from '../../src/services/model-training.service.ts';
import {
  planTraining,
  retrainThreshold,
  type TrainingFacts,
  type TrainingSchedule,
} from '../../src/services/training-scheduler.ts';

const SCHEDULE: TrainingSchedule = {
  modelRefreshMinutes: 60,
  training: { retrainShare: 0.1, debounceMs: 3_000, maxWaitMs: 30_000 },
};
const NOW = Date.parse('2026-06-01T12:00:00Z');

const trained = (overrides: Partial<TrainingRecord> = {}): TrainingRecord => ({
  at: new Date(NOW - 600_000).toISOString(),
  events: 900,
  model: 'item-knn',
  coveredSeq: '1000',
  eventsTotal: 1_000,
  durationMs: 2_000,
  reason: 'test',
  ...overrides,
});

const facts = (overrides: Partial<TrainingFacts> = {}): TrainingFacts => ({
  now: NOW,
  latestSeq: '1000',
  eventsSince: 0,
  trained: undefined,
  running: false,
  lastWriteAt: NOW - 10_000,
  pendingSince: NOW - 10_000,
  ...overrides,
});

t.test('the first training waits for writes to pause, at most the maximum wait', async (t) => {
  t.match(planTraining(SCHEDULE, facts({ latestSeq: undefined })), { due: false, reason: 'no events yet' });
  t.match(planTraining(SCHEDULE, facts()), {
    due: true,
    trigger: { reason: /first training/, startedDuringWrites: false, skipIfCovered: true },
  });
  // A write a second ago: 2 s more.
  t.match(planTraining(SCHEDULE, facts({ lastWriteAt: NOW - 1_000 })), {
    due: false,
    reason: /waiting: first training/,
    at: NOW + 2_000,
  });
  // Writes that never pause: due once the first pending event is 30 s old, flagged as during writes.
  t.match(planTraining(SCHEDULE, facts({ lastWriteAt: NOW - 100, pendingSince: NOW - 30_000 })), {
    due: true,
    trigger: { startedDuringWrites: true },
  });
  t.match(planTraining(SCHEDULE, facts({ running: true })), { due: false, reason: 'a training is running' });
});

t.test('later trainings: a share of all events, a catch-up after writes, the refresh interval', async (t) => {
  // 10 % of all: since ≥ 0.1 × (1000 + since) ⇔ since ≥ 112.
  t.equal(retrainThreshold(SCHEDULE, trained()), 112);
  t.equal(retrainThreshold(SCHEDULE, undefined), 1);
  t.equal(
    retrainThreshold({ ...SCHEDULE, training: { ...SCHEDULE.training, retrainShare: 1 } }, trained()),
    Infinity,
  );

  t.match(planTraining(SCHEDULE, facts({ trained: trained(), eventsSince: 0 })), {
    due: false,
    reason: /up to date/,
  });
  t.match(planTraining(SCHEDULE, facts({ trained: trained(), eventsSince: 111 })), {
    due: false,
    reason: /waiting: refresh/,
    at: NOW - 600_000 + 3_600_000,
  });
  t.match(planTraining(SCHEDULE, facts({ trained: trained(), eventsSince: 112 })), {
    due: true,
    trigger: { reason: /112 new events: at least 10 % of all/ },
  });
  t.match(
    planTraining(SCHEDULE, facts({ trained: trained({ startedDuringWrites: true }), eventsSince: 5 })),
    {
      due: true,
      trigger: { reason: /catch-up/ },
    },
  );
  const hourAgo = trained({ at: new Date(NOW - 3_600_001).toISOString() });
  t.match(planTraining(SCHEDULE, facts({ trained: hourAgo, eventsSince: 1 })), {
    due: true,
    trigger: { reason: /refresh: 60 min/ },
  });
  t.match(planTraining(SCHEDULE, facts({ trained: trained({ coveredSeq: undefined }), eventsSince: 1 })), {
    due: true,
    trigger: { reason: /predates automatic training/ },
  });
});

t.test('never within the last training’s duration after it, and off when the refresh is 0', async (t) => {
  const justNow = trained({ at: new Date(NOW - 1_000).toISOString(), durationMs: 20_000 });
  t.match(planTraining(SCHEDULE, facts({ trained: justNow, eventsSince: 500 })), {
    due: false,
    at: NOW + 19_000,
  });
  t.match(planTraining({ ...SCHEDULE, modelRefreshMinutes: 0 }, facts()), {
    due: false,
    reason: /automatic training is off/,
  });
});
