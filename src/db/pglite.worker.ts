import v8 from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import {
  isNewDataDir,
  readEmbeddedTemplate,
  restoreEmbeddedTemplate,
  saveEmbeddedTemplate,
} from './embedded-template.ts';
import type { WorkerReply, WorkerRequest } from './pglite-protocol.ts';
import { serializeDatabaseError } from './pglite-protocol.ts';

// Hosts the embedded PGlite database on its own thread: PGlite runs one statement at a time and blocks the
// thread that runs it, so bulk writes and HNSW index builds here never freeze the HTTP event loop.

const port = parentPort;
if (!port) throw new Error('pglite.worker.ts must run as a worker thread');

const { dataDir } = workerData as { dataDir: string };

// PGlite's PostgreSQL is one 9 MB WebAssembly module. V8 runs it with its baseline compiler (Liftoff) and
// recompiles hot functions with its optimising one (TurboFan). One of them is the SQL parser (raw_parser, a
// 105 kB function: bison's state machine), hot from the first queries: TurboFan needs about 600 MB and 1-3 s
// to compile it, so every process spiked from ~400 MB to ~1 GB at start-up, and the optimised code and the
// allocator's leftovers kept it about 70-100 MB bigger afterwards. Staying on Liftoff, measured here: an idle
// server at 272 MB instead of 356 (peak 289 MB instead of 849), the netflix import's peak at 560-595 MB
// instead of 830-870; the cost is CPU in the database: the import 10-20% slower, an HNSW build 30-45%.
// These flags are process-wide (no other wasm here is hot) and V8 reads them when it compiles a module, so
// they must be set before PGlite.create; tier-up goes off first, since --no-wasm-dynamic-tiering alone would
// mean compiling every function with TurboFan.
v8.setFlagsFromString('--no-wasm-tier-up');
v8.setFlagsFromString('--no-wasm-dynamic-tiering');

// shared_buffers is allocated and zeroed inside the WebAssembly memory at start-up, so all of it is resident
// from the first second, and a WebAssembly memory never shrinks. PGlite leaves PostgreSQL's 128MB default;
// 16MB took the resident WebAssembly memory from 167 to 45 MB (bench/pglite-memory.bench.ts, 10,000 rows and
// their HNSW index) with no slower import measured: a page PostgreSQL evicts is still in the OS page cache
// (or in memory for 'memory'). wal_buffers follows it (1/32: 512kB).
const startParams = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

async function openDatabase(): Promise<PGlite> {
  const options = { extensions: { vector }, startParams };
  if (dataDir === 'memory') {
    const template = await readEmbeddedTemplate().catch(() => undefined);
    if (template) return PGlite.create('memory://', { ...options, loadDataDir: template });
  } else if (isNewDataDir(dataDir)) {
    if (await restoreEmbeddedTemplate(dataDir).catch(() => false)) return PGlite.create(dataDir, options);
  } else {
    return PGlite.create(dataDir, options);
  }
  if (dataDir !== 'memory') return PGlite.create(dataDir, options);
  const database = await PGlite.create('memory://', options);
  // No template yet on this machine: save this empty cluster as one for next time. Only ever from a memory
  // cluster, which nothing else can touch: a data folder may hold other files (the lock, another process's
  // half-restored template), and a template dumped from one carried them into every database after it.
  await saveEmbeddedTemplate(database).catch(() => {});
  return database;
}

let database: PGlite;
try {
  database = await openDatabase();
  port.postMessage({ kind: 'ready' } satisfies WorkerReply);
} catch (error) {
  port.postMessage({ kind: 'failed', error: serializeDatabaseError(error) } satisfies WorkerReply);
  process.exit(1);
}

// node-postgres sends a Buffer parameter in binary format; PGlite would send its toString() as text, unless a
// serializer hands the bytes back (PGlite then sends any byte view in binary). This one does, for every type,
// so a Buffer is its parameter type's binary input in both modes (see vectorParameter for why it matters).
const keepingByteViews = new Proxy<Record<number, (value: unknown) => string>>(
  {},
  {
    get: (_target, oid) =>
      typeof oid === 'symbol'
        ? undefined
        : (value: unknown): string =>
            ArrayBuffer.isView(value)
              ? (value as unknown as string)
              : (database.serializers[oid]?.(value) ?? String(value)),
  },
);

port.on('message', async (request: WorkerRequest) => {
  if (request.kind === 'close') {
    try {
      await database.close();
      port.postMessage({ kind: 'closed', id: request.id } satisfies WorkerReply);
    } finally {
      port.close();
    }
    return;
  }
  try {
    const result = await database.query(request.sql, request.params, {
      rowMode: 'object',
      ...(request.params.some((param) => ArrayBuffer.isView(param)) && { serializers: keepingByteViews }),
    });
    port.postMessage({
      kind: 'result',
      id: request.id,
      rows: result.rows,
      affectedRows: result.affectedRows,
      fields: result.fields.map((field) => ({ name: field.name, dataTypeID: field.dataTypeID })),
    } satisfies WorkerReply);
  } catch (error) {
    port.postMessage({
      kind: 'error',
      id: request.id,
      error: serializeDatabaseError(error),
    } satisfies WorkerReply);
  }
});
