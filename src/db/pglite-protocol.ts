// Messages between the main thread (pglite-remote.ts) and the PGlite worker (pglite.worker.ts).

export type WorkerRequest =
  { kind: 'query'; id: number; sql: string; params: unknown[] } | { kind: 'close'; id: number };

export interface SerializedDatabaseError {
  message: string;
  // Postgres error fields (SQLSTATE code, constraint...), kept so callers can tell a unique violation apart.
  fields: Record<string, string | number | undefined>;
}

export type WorkerReply =
  | { kind: 'ready' }
  | { kind: 'failed'; error: SerializedDatabaseError }
  | {
      kind: 'result';
      id: number;
      rows: unknown[];
      affectedRows: number | undefined;
      fields: { name: string; dataTypeID: number }[];
    }
  | { kind: 'error'; id: number; error: SerializedDatabaseError }
  | { kind: 'closed'; id: number };

const ERROR_FIELDS = [
  'code',
  'severity',
  'detail',
  'hint',
  'position',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
  'routine',
] as const;

export function serializeDatabaseError(error: unknown): SerializedDatabaseError {
  if (!(error instanceof Error)) return { message: String(error), fields: {} };
  const fields: SerializedDatabaseError['fields'] = {};
  for (const name of ERROR_FIELDS) {
    const value = (error as unknown as Record<string, unknown>)[name];
    if (typeof value === 'string' || typeof value === 'number') fields[name] = value;
  }
  return { message: error.message, fields };
}

/** Rebuilds an error on the main thread with the same shape as a `pg` DatabaseError. */
export function deserializeDatabaseError(serialized: SerializedDatabaseError): Error {
  const error = new Error(serialized.message);
  error.name = 'DatabaseError';
  Object.assign(error, serialized.fields);
  return error;
}
