import type { Kysely } from 'kysely';
import type { Database, ImportRow } from '../db/database.ts';
import { NotFoundError } from '../errors.ts';
import { MAX_REPORTED_ERRORS } from '../ingest/import-runner.ts';
import { findImport, sumImportBatches } from '../repositories/imports.repository.ts';
import type { ImportStatus } from '../schemas/imports.schema.ts';

export async function getImportStatus(db: Kysely<Database>, importId: string): Promise<ImportStatus> {
  const row = await findImport(db, importId);
  if (!row) throw new NotFoundError(`No import "${importId}"`);
  return toImportStatus(row, await sumImportBatches(db, importId));
}

function toImportStatus(row: ImportRow, sums: Awaited<ReturnType<typeof sumImportBatches>>): ImportStatus {
  const end = row.finished_at ?? undefined;
  const durationMs = end ? end.getTime() - row.created_at.getTime() : null;
  return {
    importId: row.id,
    kind: row.kind as ImportStatus['kind'],
    format: row.format as ImportStatus['format'],
    mode: row.mode as ImportStatus['mode'],
    status: row.status as ImportStatus['status'],
    source: row.source,
    counts: {
      received: row.received,
      inserted: sums.inserted,
      updated: sums.updated,
      unchanged: sums.unchanged,
      deleted: sums.deleted,
      failed: row.rejected + sums.failed,
      embedded: sums.embedded,
    },
    errors: [...row.errors, ...sums.errors].sort((a, b) => a.line - b.line).slice(0, MAX_REPORTED_ERRORS),
    failure: row.failure,
    timings: {
      createdAt: row.created_at.toISOString(),
      readAt: row.read_at?.toISOString() ?? null,
      batchesFinishedAt:
        row.batches_total !== null && sums.finishedBatches >= row.batches_total
          ? (sums.lastFinishedAt?.toISOString() ?? null)
          : null,
      finishedAt: row.finished_at?.toISOString() ?? null,
      durationMs,
      recordsPerSecond: durationMs ? Math.round((row.received / durationMs) * 1000 * 10) / 10 : null,
    },
  };
}
