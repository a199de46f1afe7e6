import { z } from 'zod';
import { IMPORT_MODES } from '../ingest/import-options.ts';
import { problemSchema } from './problem.schema.ts';
import { textSchema } from './common.schema.ts';
import { IMPORT_KINDS } from '../ingest/import-records.ts';
import { IMPORT_FORMATS } from '../ingest/record-reader.ts';

const booleanQuery = z
  .enum(['true', 'false'], { message: 'must be true or false' })
  .transform((value) => value === 'true');

export const importQuerySchema = z.strictObject({
  kind: z.enum(IMPORT_KINDS).describe('What the file holds.'),
  format: z
    .enum(IMPORT_FORMATS)
    .default('ndjson')
    .describe('ndjson (one object a line), csv (header row) or json (an array).'),
  mode: z
    .enum(IMPORT_MODES)
    .default('upsert')
    .describe(
      'upsert: create, or update only the fields each record holds (a partial mapping keeps the rest; null clears). ' +
        'replace: create or replace each whole item or user. sync: replace, and delete the items or users absent ' +
        'from the file (events: upsert only).',
    ),
  map: textSchema()
    .max(4_000)
    .optional()
    .describe('Column mapping, `target=source[:transform...]` pairs separated by commas (see the README).'),
  maxDeletePercent: z.coerce
    .number({ message: 'must be a number' })
    .min(0)
    .max(100)
    .optional()
    .describe('sync: refuse to delete more than this share of the table (default 10).'),
  force: booleanQuery.optional().describe('sync: delete even beyond maxDeletePercent.'),
  wait: booleanQuery
    .optional()
    .describe('Answer only when the import has ended (for small files and scripts).'),
});

export const importIdParamsSchema = z.strictObject({
  importId: z.string().regex(/^imp_[A-Za-z0-9_-]{16}$/, { message: 'must be an import id (imp_...)' }),
});

const importErrorSchema = z.object({
  line: z.number().int().describe('1-based line (CSV, NDJSON) or position in the array (JSON).'),
  id: z.string().optional(),
  reason: z.string(),
});

export const importStatusSchema = z
  .object({
    importId: z.string(),
    kind: z.enum(IMPORT_KINDS),
    format: z.enum(IMPORT_FORMATS),
    mode: z.enum(IMPORT_MODES),
    status: z
      .enum(['receiving', 'processing', 'completed', 'failed'])
      .describe(
        'receiving: the source is being read; processing: read, batches still running; then completed or failed.',
      ),
    source: z.string().nullable(),
    counts: z.object({
      received: z.number().int().describe('Records read from the source.'),
      inserted: z.number().int(),
      updated: z.number().int(),
      unchanged: z.number().int().describe('Already stored exactly so (or repeated in the file).'),
      deleted: z.number().int(),
      failed: z.number().int().describe('Records rejected, with reasons in `errors`.'),
      embedded: z
        .number()
        .int()
        .describe(
          'Items of the import whose embedding was stored while it ran (counted in the database). Fewer when the ' +
            'embedder kept failing: those items stay pending and are embedded later.',
        ),
    }),
    errors: z.array(importErrorSchema).describe('The first 100 rejected records, by line.'),
    failure: z
      .string()
      .nullable()
      .describe(
        'Why the whole import failed, when it did: a source that cannot be read to its end, larger than ' +
          'MARQUEE_IMPORT_MAX_BYTES, an upload that stopped, batches lost with their jobs...',
      ),
    timings: z.object({
      createdAt: z.iso.datetime(),
      readAt: z.iso.datetime().nullable(),
      batchesFinishedAt: z.iso
        .datetime()
        .nullable()
        .describe(
          'When the last batch was written and its items embedded. What follows, up to finishedAt, is the end ' +
            'of the import: building the vector index and refreshing statistics after a load into an empty ' +
            "catalog, a sync's deletions.",
        ),
      finishedAt: z.iso.datetime().nullable(),
      durationMs: z.number().int().nullable(),
      recordsPerSecond: z.number().nullable(),
    }),
  })
  .meta({ id: 'ImportStatus' });

export type ImportStatus = z.infer<typeof importStatusSchema>;

export const importAcceptedSchema = z.object({
  importId: z.string(),
  status: z.string(),
  statusUrl: z.string(),
});

export const importTooLargeProblemSchema = problemSchema
  .extend({
    importId: z.string().describe('The import, failed at the limit; the batches before it were kept.'),
    statusUrl: z.string(),
  })
  .describe(
    'The body holds more than MARQUEE_IMPORT_MAX_BYTES once decompressed: the import stopped there and is failed.',
  );
