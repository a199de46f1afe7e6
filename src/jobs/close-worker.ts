import type { Worker } from 'bullmq';

/** How long a BullMQ worker gets to finish its running jobs and close its connections. */
export const WORKER_CLOSE_TIMEOUT_MS = 15_000;

/**
 * Closes a BullMQ worker, waiting at most `timeoutMs`. After a Redis outage BullMQ 6.7 can leave a worker's
 * blocking connection in ioredis's "reconnecting" state, and `close()` then waits for an end that never
 * comes (taskforcesh/bullmq#4656, #4585); a shutdown must not hang on it. On time-out the worker is
 * disconnected without waiting: jobs it was still running lose their lock and go back to the queue.
 */
export async function closeWorkerWithin(
  worker: Pick<Worker, 'close' | 'disconnect'>,
  logger: { warn(details: object, message: string): void },
  name: string,
  timeoutMs = WORKER_CLOSE_TIMEOUT_MS,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<true>((resolve) => {
    timer = setTimeout(() => resolve(true), timeoutMs);
  });
  const closed = worker.close().then(
    () => false as const,
    (error: unknown) => {
      logger.warn({ err: error }, `${name}: closing failed`);
      return false as const;
    },
  );
  const late = await Promise.race([closed, timedOut]);
  clearTimeout(timer);
  if (!late) return;
  logger.warn(
    { timeoutMs },
    `${name} did not close within ${timeoutMs} ms (a Redis connection stuck reconnecting); disconnecting it`,
  );
  void worker.disconnect().catch(() => undefined);
}
