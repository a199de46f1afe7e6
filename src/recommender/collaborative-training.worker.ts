import { parentPort, workerData } from 'node:worker_threads';
import { type CollaborativeTrainingInput, trainNeighbourLists } from './collaborative-training.ts';

// Runs one training's compute phase (matrix and model: seconds of CPU) on its own thread, so that the
// process that trains, an API replica or the embedded server, keeps answering requests meanwhile.
// Started by trainNeighbourListsOffThread (collaborative-training.thread.ts), once per training.

if (!parentPort) throw new Error('collaborative-training.worker.ts must run as a worker thread');
const lists = trainNeighbourLists(workerData as CollaborativeTrainingInput);
parentPort.postMessage(lists, [
  lists.offsets.buffer,
  lists.neighbourIndices.buffer,
  lists.scores.buffer,
  ...(lists.ranker ? [lists.ranker.artifact.buffer] : []),
]);
