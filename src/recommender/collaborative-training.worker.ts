import { parentPort, workerData } from 'node:worker_threads';
import {
  type CollaborativeTrainingInput,
  type TrainingThreadMessage,
  trainNeighbourLists,
  trainRankerFrom,
} from './collaborative-training.ts';

// Runs one training's compute phase on its own thread, so that the process that trains, an API replica or
// the embedded server, keeps answering requests meanwhile: the neighbour lists (seconds of CPU), posted at
// once, then the learned ranker when asked (a minute or more), posted when done. Started by
// startTrainingThread (collaborative-training.thread.ts), once per training.

if (!parentPort) throw new Error('collaborative-training.worker.ts must run as a worker thread');
const port = parentPort;
const input = workerData as CollaborativeTrainingInput;
const lists = trainNeighbourLists(input);
port.postMessage({ kind: 'lists', lists } satisfies TrainingThreadMessage, [
  lists.offsets.buffer,
  lists.neighbourIndices.buffer,
  lists.scores.buffer,
]);
if (input.ranker) {
  const ranker = trainRankerFrom(input, input.ranker);
  port.postMessage({ kind: 'ranker', ranker } satisfies TrainingThreadMessage, [ranker.artifact.buffer]);
}
