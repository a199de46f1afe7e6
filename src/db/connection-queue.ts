import type {
  DatabaseConnection,
  DatabaseIntrospector,
  Dialect,
  DialectAdapter,
  Driver,
  Kysely,
  QueryCompiler,
  TransactionSettings,
} from 'kysely';
import { ServiceBusyError } from '../errors.ts';

/** How loaded this process's database client is: what load shedding and /readyz read. */
export interface DatabaseLoad {
  /** Queries and transactions of this process waiting for a connection (pool or embedded session). */
  readonly waiting: number;
  /** Connections this process's callers hold now. */
  readonly inUse: number;
  /** Whether callers hold every connection the client may open. */
  readonly saturated: boolean;
}

/**
 * A dialect whose driver counts the callers waiting for a connection, so that a process can tell a database
 * that is busy (connections all in use, callers queued behind them) from one that cannot be reached. A wait
 * that fails while the client is saturated is overload, not an outage: it becomes a ServiceBusyError.
 */
export function withConnectionQueue(
  dialect: Dialect,
  maxConnections: number,
): { dialect: Dialect; load: DatabaseLoad } {
  const counter: Counter = { waiting: 0, inUse: 0 };
  const load: DatabaseLoad = {
    get waiting() {
      return counter.waiting;
    },
    get inUse() {
      return counter.inUse;
    },
    get saturated() {
      return counter.inUse >= maxConnections;
    },
  };
  // A single-connection dialect (PGlite) has Kysely queue its callers before they reach the driver, out of
  // sight: this driver queues them itself, where they are counted, and tells Kysely not to.
  const singleConnection = dialect.createAdapter().supportsMultipleConnections === false;
  return {
    load,
    dialect: {
      createDriver: () =>
        new QueueCountingDriver(dialect.createDriver(), counter, () => load.saturated, singleConnection),
      createQueryCompiler: (): QueryCompiler => dialect.createQueryCompiler(),
      createAdapter: (): DialectAdapter => {
        const adapter = dialect.createAdapter();
        if (!singleConnection) return adapter;
        const queued = Object.create(adapter) as DialectAdapter;
        Object.defineProperty(queued, 'supportsMultipleConnections', { value: true });
        return queued;
      },
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely's own signature
      createIntrospector: (db: Kysely<any>): DatabaseIntrospector => dialect.createIntrospector(db),
    },
  };
}

interface Counter {
  waiting: number;
  inUse: number;
}

type Options = Parameters<Driver['init']>[0];
type CompileQuery = Parameters<NonNullable<Driver['savepoint']>>[2];

class QueueCountingDriver implements Driver {
  readonly #inner: Driver;
  readonly #counter: Counter;
  readonly #isSaturated: () => boolean;
  /** For a single connection: the turn of the caller holding it, which the next caller waits for. */
  readonly #turns: Turns | undefined;

  constructor(inner: Driver, counter: Counter, isSaturated: () => boolean, singleConnection: boolean) {
    this.#inner = inner;
    this.#counter = counter;
    this.#isSaturated = isSaturated;
    this.#turns = singleConnection ? new Turns() : undefined;
  }

  init(options?: Options) {
    return this.#inner.init(options);
  }

  async acquireConnection(options?: Options): Promise<DatabaseConnection> {
    this.#counter.waiting++;
    let turnTaken = false;
    try {
      await this.#turns?.take();
      turnTaken = true;
      const connection = await this.#inner.acquireConnection(options);
      this.#counter.inUse++;
      return connection;
    } catch (error) {
      if (turnTaken) this.#turns?.pass();
      // pg's pool gives up after its connection time-out; with every connection held by callers that is a
      // queue too long, not a database gone (connections stuck connecting are not held).
      if (this.#isSaturated() && isConnectionWaitTimeout(error)) {
        throw new ServiceBusyError('database-queue', { cause: error });
      }
      throw error;
    } finally {
      this.#counter.waiting--;
    }
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    return this.#inner.beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection) {
    return this.#inner.commitTransaction(connection);
  }

  rollbackTransaction(connection: DatabaseConnection) {
    return this.#inner.rollbackTransaction(connection);
  }

  savepoint(connection: DatabaseConnection, name: string, compileQuery: CompileQuery) {
    if (!this.#inner.savepoint) throw unsupported('savepoint');
    return this.#inner.savepoint(connection, name, compileQuery);
  }

  rollbackToSavepoint(connection: DatabaseConnection, name: string, compileQuery: CompileQuery) {
    if (!this.#inner.rollbackToSavepoint) throw unsupported('rollbackToSavepoint');
    return this.#inner.rollbackToSavepoint(connection, name, compileQuery);
  }

  releaseSavepoint(connection: DatabaseConnection, name: string, compileQuery: CompileQuery) {
    if (!this.#inner.releaseSavepoint) throw unsupported('releaseSavepoint');
    return this.#inner.releaseSavepoint(connection, name, compileQuery);
  }

  async releaseConnection(connection: DatabaseConnection, options?: Options) {
    this.#counter.inUse--;
    try {
      await this.#inner.releaseConnection(connection, options);
    } finally {
      this.#turns?.pass();
    }
  }

  destroy(options?: Options) {
    return this.#inner.destroy(options);
  }
}

function unsupported(name: string): Error {
  return new Error(`The database driver does not support ${name}`);
}

/** First come, first served: one holder at a time. */
class Turns {
  #waiting: (() => void)[] = [];
  #held = false;

  take(): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  pass(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#held = false;
  }
}

function isConnectionWaitTimeout(error: unknown): boolean {
  return error instanceof Error && error.message.includes('timeout exceeded when trying to connect');
}
