import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { isNewDataDir, readEmbeddedTemplate, saveEmbeddedTemplate } from './embedded-template.ts';
import type { WorkerReply, WorkerRequest } from './pglite-protocol.ts';
import { serializeDatabaseError } from './pglite-protocol.ts';

// Hosts the embedded PGlite database on its own thread: PGlite runs one statement at a time and blocks the
// thread that runs it, so bulk writes and HNSW index builds here never freeze the HTTP event loop.

const port = parentPort;
if (!port) throw new Error('pglite.worker.ts must run as a worker thread');

const { dataDir } = workerData as { dataDir: string };

async function openDatabase(): Promise<PGlite> {
  const location = dataDir === 'memory' ? 'memory://' : dataDir;
  if (!isNewDataDir(dataDir)) return PGlite.create(location, { extensions: { vector } });
  const template = await readEmbeddedTemplate().catch(() => undefined);
  if (template) return PGlite.create(location, { extensions: { vector }, loadDataDir: template });
  const database = await PGlite.create(location, { extensions: { vector } });
  // No template yet on this machine: save this empty cluster as one for next time.
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
    const result = await database.query(request.sql, request.params, { rowMode: 'object' });
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
