import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parse as parseCsv } from 'csv-parse';
import StreamArray from 'stream-json/streamers/StreamArray.js';

export const IMPORT_FORMATS = ['ndjson', 'csv', 'json'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** One record of a source file: its object, or why it could not be read. `line` is 1-based. */
export type SourceRecord =
  | { line: number; value: Record<string, unknown>; error?: undefined }
  | { line: number; value?: undefined; error: string };

/** The stream itself, or its gunzipped content when it starts with the gzip magic bytes. */
async function decompressed(input: Readable): Promise<Readable> {
  const chunks = input[Symbol.asyncIterator]();
  const first = await chunks.next();
  if (first.done) return Readable.from([]);
  const head = Buffer.from(first.value as Buffer);
  const whole = Readable.from(
    (async function* () {
      yield head;
      for (;;) {
        const next = await chunks.next();
        if (next.done) return;
        yield next.value as Buffer;
      }
    })(),
  );
  if (head[0] !== 0x1f || head[1] !== 0x8b) return whole;
  const gunzip = createGunzip();
  whole.on('error', (error) => gunzip.destroy(error));
  return whole.pipe(gunzip);
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

async function* readNdjson(input: Readable): AsyncGenerator<SourceRecord> {
  let line = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    line++;
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      yield { line, error: `not valid JSON (${(error as Error).message})` };
      continue;
    }
    yield isPlainObject(value) ? { line, value } : { line, error: 'not a JSON object' };
  }
}

async function* readCsv(input: Readable): AsyncGenerator<SourceRecord> {
  const skipped: SourceRecord[] = [];
  const parser = input.pipe(
    parseCsv({
      columns: (header: string[]) => header.map((name) => name.trim()),
      bom: true,
      info: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
    }),
  );
  input.on('error', (error) => parser.destroy(error));
  parser.on('skip', (error: Error & { lines?: number }) => {
    skipped.push({ line: error.lines ?? 0, error: `not a valid CSV row (${error.message})` });
  });
  for await (const { record, info } of parser as AsyncIterable<{
    record: Record<string, string>;
    info: { lines: number };
  }>) {
    while (skipped.length > 0) yield skipped.shift() as SourceRecord;
    yield { line: info.lines, value: record };
  }
  while (skipped.length > 0) yield skipped.shift() as SourceRecord;
}

async function* readJsonArray(input: Readable): AsyncGenerator<SourceRecord> {
  const stream = input.pipe(StreamArray.withParser());
  input.on('error', (error) => stream.destroy(error));
  for await (const { key, value } of stream as AsyncIterable<{ key: number; value: unknown }>) {
    const line = key + 1;
    yield isPlainObject(value) ? { line, value } : { line, error: 'not a JSON object' };
  }
}

/**
 * The records of a file or request body, one at a time, in constant memory: NDJSON (one object per line),
 * CSV with a header row, or a JSON array; gzip is recognised by its first bytes. For JSON arrays, `line`
 * is the record's position in the array. A broken record is yielded with its error; a broken stream
 * (truncated gzip, malformed JSON array) throws.
 */
export async function* readRecords(input: Readable, format: ImportFormat): AsyncGenerator<SourceRecord> {
  const content = await decompressed(input);
  if (format === 'ndjson') yield* readNdjson(content);
  else if (format === 'csv') yield* readCsv(content);
  else yield* readJsonArray(content);
}
