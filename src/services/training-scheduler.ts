import type { FastifyBaseLogger as Logger } from 'fastify';
import type { Kysely } from 'kysely';
import type { RecommenderConfig } from '../config.ts';
import type { Database } from '../db/database.ts';
import { getMetaValue } from '../repositories/meta.repository.ts';
import {
  countEventsAfter,
  findLatestEventSeq,
  isTrainingLockHeld,
} from '../repositories/model-data.repository.ts';
import {
  isTrainingHere,
  MODELS_FAILED_KEY,
  MODELS_TRAINED_KEY,
  MODELS_TRAINING_KEY,
  type TrainingRecord,
  type TrainingTrigger,
} from './model-training.service.ts';

// When the models train by themselves (issue 18). Every process that can ask for a training (API replicas,
// `marquee worker`) watches the events table's latest seq once a second and applies the same plan to what
// Postgres says; the requests they make coalesce (one BullMQ job, or one run here when embedded) and the
// training lock keeps trainings one at a time. Nothing here is state of its own: a restarted process reads
// it all back.

export type TrainingSchedule = Pick<RecommenderConfig, 'modelRefreshMinutes' | 'training'>;

/** What the plan looks at: Postgres's facts and what this process saw of the writes. */
export interface TrainingFacts {
  now: number;
  /** The latest event seq, undefined when there is no event. */
  latestSeq: string | undefined;
  /** Events after the last training's coveredSeq (counted up to what the plan needs). */
  eventsSince: number;
  trained: TrainingRecord | undefined;
  running: boolean;
  /** When this process last saw the latest seq move. */
  lastWriteAt: number | undefined;
  /** When this process first saw an event that no training covers. */
  pendingSince: number | undefined;
}

export type TrainingPlan =
  { due: true; trigger: Required<TrainingTrigger> } | { due: false; reason: string; at: number | undefined };

/** The events after the last training that make the next one: its share of all events. */
export function retrainThreshold(schedule: TrainingSchedule, trained: TrainingRecord | undefined): number {
  const total = trained?.eventsTotal ?? 0;
  // since ≥ share × (total + since)  ⇔  since ≥ share × total / (1 − share)
  const share = schedule.training.retrainShare;
  return share >= 1 ? Number.POSITIVE_INFINITY : Math.max(1, Math.ceil((share * total) / (1 - share)));
}

/**
 * Whether a training should start now, and why; or why not and when it would. Pure: the same facts give the
 * same plan in every process.
 *
 * - No model yet: as soon as there are events, once writes pause for the debounce (at most the maximum wait
 *   after the first event seen).
 * - Later: when the events since the last training reach the share of all events (same debounce), or when
 *   the refresh interval has passed with any new event; and once writes stop after a training that started
 *   while they were still arriving (so that a bulk load through the API ends covered).
 * - Never while one runs, nor within the last training's duration after it (at most half the time training).
 */
export function planTraining(schedule: TrainingSchedule, facts: TrainingFacts): TrainingPlan {
  const { now, trained } = facts;
  if (schedule.modelRefreshMinutes <= 0)
    return {
      due: false,
      reason: 'automatic training is off (MARQUEE_MODEL_REFRESH_MINUTES=0): POST /v1/admin/models/train',
      at: undefined,
    };
  if (facts.latestSeq === undefined) return { due: false, reason: 'no events yet', at: undefined };
  if (facts.running) return { due: false, reason: 'a training is running', at: undefined };
  if (trained && facts.eventsSince === 0)
    return { due: false, reason: 'up to date: the last training covers every event', at: undefined };

  const { debounceMs, maxWaitMs } = schedule.training;
  // No write seen by this process: they stopped before it looked.
  const quietAt = facts.lastWriteAt === undefined ? now : facts.lastWriteAt + debounceMs;
  const debounced = Math.min(quietAt, (facts.pendingSince ?? now) + maxWaitMs);
  const writing = now < quietAt;
  const trainedAt = trained ? Date.parse(trained.at) : undefined;
  const cooledAt = trainedAt === undefined ? 0 : trainedAt + (trained?.durationMs ?? 0);
  const refreshAt = trainedAt === undefined ? undefined : trainedAt + schedule.modelRefreshMinutes * 60_000;

  const candidates: { reason: string; at: number }[] = [];
  if (!trained) candidates.push({ reason: 'first training: there are events and no model', at: debounced });
  else if (trained.coveredSeq === undefined)
    candidates.push({ reason: 'the model predates automatic training', at: debounced });
  else {
    const threshold = retrainThreshold(schedule, trained);
    if (facts.eventsSince >= threshold)
      candidates.push({
        reason: `${facts.eventsSince} new events: at least ${Math.round(schedule.training.retrainShare * 1000) / 10} % of all`,
        at: debounced,
      });
    if (trained.startedDuringWrites)
      candidates.push({
        reason: 'catch-up: the last training started while events were arriving',
        at: quietAt,
      });
    if (refreshAt !== undefined)
      candidates.push({
        reason: `refresh: ${schedule.modelRefreshMinutes} min since the last training`,
        at: refreshAt,
      });
  }
  const next = candidates
    .map((candidate) => ({ ...candidate, at: Math.max(candidate.at, cooledAt) }))
    .sort((a, b) => a.at - b.at)[0];
  if (!next) return { due: false, reason: 'nothing to train', at: undefined };
  if (next.at <= now)
    return { due: true, trigger: { reason: next.reason, startedDuringWrites: writing, skipIfCovered: true } };
  return { due: false, reason: `waiting: ${next.reason}`, at: next.at };
}

/** What GET /v1/admin/models answers. */
export interface ModelStatus {
  automatic: boolean;
  model: TrainingRecord['model'] | null;
  trainedAt: string | null;
  eventsCovered: number;
  coveredSeq: string | null;
  eventsSince: number;
  lastDurationMs: number | null;
  lastReason: string | null;
  training: { running: boolean; startedAt: string | null; reason: string | null };
  next: { reason: string; at: string | null };
  lastError: { at: string; reason: string; message: string } | null;
}

/** Everything Postgres says about the models, for the plan and the status. */
export async function readTrainingFacts(
  db: Kysely<Database>,
  { countUpTo }: { countUpTo: (trained: TrainingRecord | undefined) => number },
): Promise<{
  latestSeq: string | undefined;
  eventsSince: number;
  trained: TrainingRecord | undefined;
  running: boolean;
  started: { at: string; reason: string } | undefined;
}> {
  const [latestSeq, trained, started] = await Promise.all([
    findLatestEventSeq(db),
    getMetaValue(db, MODELS_TRAINED_KEY) as Promise<TrainingRecord | undefined>,
    getMetaValue(db, MODELS_TRAINING_KEY) as Promise<{ at: string; reason: string } | undefined>,
  ]);
  const startedAfterLast = started !== undefined && (!trained || started.at > trained.at);
  const running = isTrainingHere(db) || (startedAfterLast && (await isTrainingLockHeld(db)));
  let eventsSince = 0;
  if (latestSeq !== undefined) {
    const covered = trained?.coveredSeq ?? '0';
    if (BigInt(latestSeq) > BigInt(covered))
      eventsSince = await countEventsAfter(db, covered, countUpTo(trained));
  }
  return { latestSeq, eventsSince, trained, running, started: running ? started : undefined };
}

export interface TrainingScheduler {
  /** The status of the models as every process would report it. */
  status(): Promise<ModelStatus>;
  stop(): void;
}

const POLL_MS = 1_000;
const STATUS_COUNT_LIMIT = 100_000_000;

/**
 * Watches the events and asks for a training when the plan says so. `request` must coalesce (a BullMQ job
 * with a deduplication id, or the coalescing runner); a request is not repeated while it is pending.
 */
export function startTrainingScheduler(options: {
  db: Kysely<Database>;
  schedule: TrainingSchedule;
  request: (trigger: Required<TrainingTrigger>) => Promise<unknown>;
  logger: Pick<Logger, 'warn' | 'info'>;
  pollMs?: number;
}): TrainingScheduler {
  const { db, schedule, logger } = options;
  let lastSeq: string | undefined;
  let observed = false;
  let lastWriteAt: number | undefined;
  let pendingSince: number | undefined;
  let lastTrainedAt: string | undefined;
  let requested: { at: number; trainedAt: string | undefined } | undefined;
  let polling = false;

  const observe = async () => {
    const facts = await readTrainingFacts(db, {
      countUpTo: (trained) => Math.min(retrainThreshold(schedule, trained), STATUS_COUNT_LIMIT),
    });
    const now = Date.now();
    // The first look counts as a write: writes may be under way, so a process that starts waits the
    // debounce like the others before it asks for a training.
    if (facts.latestSeq !== lastSeq || !observed) {
      if (facts.latestSeq !== undefined) lastWriteAt = now;
      lastSeq = facts.latestSeq;
    }
    observed = true;
    if (facts.trained?.at !== lastTrainedAt) {
      lastTrainedAt = facts.trained?.at;
      pendingSince = undefined;
    }
    if (facts.eventsSince > 0 || (!facts.trained && facts.latestSeq !== undefined)) pendingSince ??= now;
    else pendingSince = undefined;
    return { ...facts, now, lastWriteAt, pendingSince };
  };

  const tick = async () => {
    if (polling) return;
    polling = true;
    try {
      const facts = await observe();
      // A request stands until a training finishes after it (or a minute passes: a lost job is asked again).
      if (requested && requested.trainedAt === facts.trained?.at && facts.now - requested.at < 60_000) return;
      requested = undefined;
      const plan = planTraining(schedule, facts);
      if (!plan.due) return;
      requested = { at: facts.now, trainedAt: facts.trained?.at };
      await options.request(plan.trigger);
    } catch (error) {
      logger.warn({ err: error }, 'training scheduler: could not check the models');
    } finally {
      polling = false;
    }
  };

  const timer =
    schedule.modelRefreshMinutes > 0 ? setInterval(() => void tick(), options.pollMs ?? POLL_MS) : undefined;
  timer?.unref();

  return {
    async status() {
      const facts = await readTrainingFacts(db, { countUpTo: () => STATUS_COUNT_LIMIT });
      const now = Date.now();
      const plan = planTraining(schedule, {
        ...facts,
        now,
        lastWriteAt,
        pendingSince: pendingSince ?? (facts.eventsSince > 0 ? now : undefined),
      });
      const failed = (await getMetaValue(db, MODELS_FAILED_KEY)) as ModelStatus['lastError'] | undefined;
      const { trained } = facts;
      return {
        automatic: schedule.modelRefreshMinutes > 0,
        model: trained?.model ?? null,
        trainedAt: trained?.at ?? null,
        eventsCovered: trained?.events ?? 0,
        coveredSeq: trained?.coveredSeq ?? null,
        eventsSince: trained ? facts.eventsSince : facts.latestSeq === undefined ? 0 : facts.eventsSince,
        lastDurationMs: trained?.durationMs ?? null,
        lastReason: trained?.reason ?? null,
        training: {
          running: facts.running,
          startedAt: facts.started?.at ?? null,
          reason: facts.started?.reason ?? null,
        },
        next: plan.due
          ? { reason: plan.trigger.reason, at: new Date(now).toISOString() }
          : { reason: plan.reason, at: plan.at === undefined ? null : new Date(plan.at).toISOString() },
        // Only an error newer than the last success is news.
        lastError: failed && (!trained || failed.at > trained.at) ? failed : null,
      };
    },
    stop() {
      clearInterval(timer);
    },
  };
}
