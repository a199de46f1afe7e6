import { parentPort, workerData } from 'node:worker_threads';
import { buildVectorIndex, type VectorIndexInput } from './item-vector-index.ts';

// Builds the in-memory vector index (seconds of CPU for a large catalog) on its own thread and saves it to
// the file the caller loads it from. Started by buildVectorIndexOffThread (item-vector-index.ts).

if (!parentPort) throw new Error('item-vector-index.worker.ts must run as a worker thread');
const { input, path } = workerData as { input: VectorIndexInput; path: string };
buildVectorIndex(input).save(path);
parentPort.postMessage('built');
