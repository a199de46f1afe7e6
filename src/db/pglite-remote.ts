import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { PGlite, PGliteQueryResults, PGliteTransaction } from 'kysely';
import { deserializeDatabaseError, type WorkerReply, type WorkerRequest } from './pglite-protocol.ts';

interface Pending {
  resolve: (reply: WorkerReply) => void;
  reject: (error: Error) => void;
}

/**
 * The subset of PGlite that Kysely's PGliteDialect needs, backed by a PGlite instance on a worker thread.
 * Kysely already serialises use of the single connection (its PGlite adapter says it has one connection),
 * so transactions can be plain BEGIN / COMMIT / ROLLBACK statements.
 */
export class RemotePGlite implements PGlite {
  closed = false;
  ready = false;
  readonly waitReady: Promise<void>;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #exitError: Error | undefined;

  /** @param dataDir a folder, or 'memory' */
  constructor(dataDir: string) {
    // From src the worker is a .ts file run by Node's type stripping; from dist it is the compiled .js.
    const workerUrl = new URL(`./pglite.worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);
    this.#worker = new Worker(workerUrl, { workerData: { dataDir } });
    this.waitReady = new Promise<void>((resolve, reject) => {
      const onMessage = (reply: WorkerReply) => {
        if (reply.kind === 'ready') {
          this.ready = true;
          resolve();
        } else if (reply.kind === 'failed') {
          reject(deserializeDatabaseError(reply.error));
        } else {
          this.#settle(reply);
        }
      };
      this.#worker.on('message', onMessage);
      this.#worker.once('error', (error: Error) => {
        this.#exitError = error;
        reject(error);
        this.#failAll(error);
      });
      this.#worker.once('exit', (code) => {
        this.closed = true;
        const error = this.#exitError ?? new Error(`embedded database worker exited (code ${code})`);
        reject(error);
        this.#failAll(error);
      });
    });
    // Callers await waitReady; this only stops an unobserved rejection from crashing the process.
    this.waitReady.catch(() => {});
  }

  async query<T>(sqlText: string, params: unknown[] = []): Promise<PGliteQueryResults<T>> {
    const reply = await this.#send({ kind: 'query', id: 0, sql: sqlText, params });
    if (reply.kind !== 'result') throw new Error(`unexpected reply from the database worker: ${reply.kind}`);
    return { rows: reply.rows as T[], affectedRows: reply.affectedRows, fields: reply.fields };
  }

  async transaction<T>(callback: (tx: PGliteTransaction) => Promise<T>): Promise<T> {
    await this.query('BEGIN');
    let finished = false;
    const tx: PGliteTransaction = {
      query: (sqlText, params) => this.query(sqlText, params),
      rollback: async () => {
        finished = true;
        await this.query('ROLLBACK');
      },
    };
    try {
      const result = await callback(tx);
      if (!finished) await this.query('COMMIT');
      return result;
    } catch (error) {
      if (!finished) await this.query('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.#send({ kind: 'close', id: 0 });
    } catch {
      // The worker is already gone: nothing left to close.
    }
    this.closed = true;
    await this.#worker.terminate();
  }

  #send(request: WorkerRequest): Promise<WorkerReply> {
    if (this.closed) return Promise.reject(this.#exitError ?? new Error('embedded database is closed'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...request, id });
    });
  }

  #settle(reply: WorkerReply) {
    if (!('id' in reply)) return;
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (reply.kind === 'error') pending.reject(deserializeDatabaseError(reply.error));
    else pending.resolve(reply);
  }

  #failAll(error: Error) {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
