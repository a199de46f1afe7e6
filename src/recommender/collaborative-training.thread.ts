import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type {
  CollaborativeTrainingInput,
  NeighbourLists,
  TrainedRanker,
  TrainingThreadMessage,
} from './collaborative-training.ts';

// From src the worker is a .ts file run by Node's type stripping; from dist it is the compiled .js.
const WORKER_URL = new URL(
  `./collaborative-training.worker${extname(fileURLToPath(import.meta.url))}`,
  import.meta.url,
);

/** The two results of a training thread: the neighbour lists first, the learned ranker (if asked) after. */
export interface TrainingThread {
  lists: Promise<NeighbourLists>;
  /** Undefined when the input asked for no ranker. */
  ranker: Promise<TrainedRanker | undefined>;
}

/**
 * Trains on a worker thread of its own: the neighbour lists, then (when `input.ranker` is set) the learned
 * ranker, each posted as soon as it is ready, so the lists are stored without waiting for the ranker. The
 * input's typed arrays are transferred (unusable here afterwards). An abort terminates the thread at once and
 * rejects what is still pending with the signal's reason.
 */
export function startTrainingThread(input: CollaborativeTrainingInput, signal?: AbortSignal): TrainingThread {
  const lists = deferred<NeighbourLists>();
  const ranker = deferred<TrainedRanker | undefined>();
  // Nobody may await the ranker when the lists failed: its rejection is not an unhandled one.
  ranker.promise.catch(() => undefined);
  if (signal?.aborted) {
    const reason = asError(signal.reason);
    lists.reject(reason);
    ranker.reject(reason);
    return { lists: lists.promise, ranker: ranker.promise };
  }
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
  const fail = (error: Error) => {
    signal?.removeEventListener('abort', onAbort);
    lists.reject(error);
    ranker.reject(error);
  };
  const onAbort = () => {
    fail(asError(signal?.reason));
    void worker.terminate();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  worker.on('message', (message: TrainingThreadMessage) => {
    if (message.kind === 'lists') {
      lists.resolve(message.lists);
      if (!input.ranker) ranker.resolve(undefined);
    } else ranker.resolve(message.ranker);
    if (ranker.settled) signal?.removeEventListener('abort', onAbort);
  });
  worker.once('error', fail);
  worker.once('exit', (code) =>
    fail(new Error(`the training thread exited (code ${code}) without a result`)),
  );
  return { lists: lists.promise, ranker: ranker.promise };
}

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

/** A promise with its resolve and reject, which settles once (later calls do nothing). */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const state = { settled: false };
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return {
    promise,
    get settled() {
      return state.settled;
    },
    resolve: (value: T) => {
      if (state.settled) return;
      state.settled = true;
      resolve(value);
    },
    reject: (error: Error) => {
      if (state.settled) return;
      state.settled = true;
      reject(error);
    },
  };
}
