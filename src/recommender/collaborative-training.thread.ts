import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CollaborativeTrainingInput, NeighbourLists } from './collaborative-training.ts';

// From src the worker is a .ts file run by Node's type stripping; from dist it is the compiled .js.
const WORKER_URL = new URL(
  `./collaborative-training.worker${extname(fileURLToPath(import.meta.url))}`,
  import.meta.url,
);

/**
 * trainNeighbourLists on a worker thread of its own. The input's typed arrays are transferred (unusable
 * here afterwards). An abort terminates the thread at once and rejects with the signal's reason.
 */
export async function trainNeighbourListsOffThread(
  input: CollaborativeTrainingInput,
  signal?: AbortSignal,
): Promise<NeighbourLists> {
  signal?.throwIfAborted();
  return await new Promise<NeighbourLists>((resolve, reject) => {
    const worker = new Worker(WORKER_URL, {
      workerData: input,
      transferList: [
        input.eventUsers.buffer,
        input.eventItems.buffer,
        input.eventTimes.buffer,
        ...(input.ranker
          ? [input.ranker.eventRatings.buffer, input.ranker.eventLiked.buffer, input.ranker.itemYears.buffer]
          : []),
      ] as ArrayBuffer[],
    });
    let settled = false;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      finish();
    };
    const onAbort = () => {
      const reason: unknown = signal?.reason;
      settle(() => reject(reason instanceof Error ? reason : new Error(String(reason))));
      void worker.terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (lists: NeighbourLists) => settle(() => resolve(lists)));
    worker.once('error', (error: Error) => settle(() => reject(error)));
    worker.once('exit', (code) =>
      settle(() => reject(new Error(`the training thread exited (code ${code}) without a result`))),
    );
  });
}
