import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { type CsvError, parse as parseCsv } from 'csv-parse';

export const IMPORT_FORMATS = ['ndjson', 'csv', 'json'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** One record of a source file: its object, or why it could not be read. `line` is 1-based. */
export type SourceRecord =
  | { line: number; value: Record<string, unknown>; error?: undefined }
  | { line: number; value?: undefined; error: string };

/** How much a source may hold; both are counted on the decompressed bytes, as they stream. */
export interface ReadLimits {
  /** Bytes the whole source may hold (MARQUEE_IMPORT_MAX_BYTES). */
  maxBytes: number;
  /** Bytes of one record: an NDJSON line, a CSV row, an element of a JSON array (MARQUEE_IMPORT_MAX_RECORD_BYTES). */
  maxRecordBytes: number;
}

/** The source holds more than `maxBytes` once decompressed: reading stopped there. */
export class SourceTooLargeError extends Error {
  readonly maxBytes: number;

  constructor(maxBytes: number) {
    super(`larger than MARQUEE_IMPORT_MAX_BYTES (${maxBytes} bytes once decompressed)`);
    this.name = 'SourceTooLargeError';
    this.maxBytes = maxBytes;
  }
}

/** The source cannot be read any further: not an array, a CSV header or row refused... */
export class SourceFormatError extends Error {
  override name = 'SourceFormatError';
}

// Chunks are cut to at most this much, so that the JSON and CSV readers, which measure a record by the chunks
// they have taken, never overshoot MARQUEE_IMPORT_MAX_RECORD_BYTES by more than about this.
const MAX_CHUNK_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

/** The input's chunks as Buffers, reporting each one's size; the stream is left open when reading stops early. */
async function* inputChunks(input: Readable, onInput?: (bytes: number) => void): AsyncGenerator<Buffer> {
  // destroyOnReturn false: an import that stops early (too large) must still be able to answer on the socket.
  for await (const chunk of input.iterator({ destroyOnReturn: false })) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    onInput?.(buffer.length);
    yield buffer;
  }
}

/** The input's content: gunzipped when it starts with the gzip magic bytes. */
async function* decompressed(input: Readable, onInput?: (bytes: number) => void): AsyncGenerator<Buffer> {
  const raw = inputChunks(input, onInput);
  let head: Buffer = Buffer.alloc(0);
  let ended = false;
  // The two magic bytes may come in separate chunks.
  while (head.length < 2) {
    const next = await raw.next();
    if (next.done) {
      ended = true;
      break;
    }
    head = head.length === 0 ? next.value : Buffer.concat([head, next.value]);
  }
  const whole = async function* () {
    if (head.length > 0) yield head;
    if (!ended) yield* raw;
  };
  if (head[0] !== 0x1f || head[1] !== 0x8b) {
    yield* whole();
    return;
  }
  // Pulled, not pushed: gunzip inflates only as far as the reader has asked, so a small bomb that expands to
  // gigabytes never holds more than a chunk or two in memory.
  const source = Readable.from(whole(), { objectMode: false });
  const gunzip = createGunzip();
  source.on('error', (error) => gunzip.destroy(error));
  source.pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}

/** The decompressed content in chunks of at most MAX_CHUNK_BYTES, stopping with an error past `maxBytes`. */
async function* content(
  input: Readable,
  maxBytes: number,
  onInput?: (bytes: number) => void,
): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of decompressed(input, onInput)) {
    for (let start = 0; start < chunk.length; start += MAX_CHUNK_BYTES) {
      const piece = chunk.subarray(start, start + MAX_CHUNK_BYTES);
      if (total + piece.length > maxBytes) {
        // What fits is still read: the records that end before the limit are taken.
        if (maxBytes > total) yield piece.subarray(0, maxBytes - total);
        throw new SourceTooLargeError(maxBytes);
      }
      total += piece.length;
      yield piece;
    }
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function parseRecord(line: number, text: string): SourceRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { line, error: `not valid JSON (${(error as Error).message})` };
  }
  return isPlainObject(value) ? { line, value } : { line, error: 'not a JSON object' };
}

const tooLong = (maxRecordBytes: number) =>
  `longer than ${maxRecordBytes} bytes (MARQUEE_IMPORT_MAX_RECORD_BYTES)`;

const isBlank = (byte: number | undefined) =>
  byte === 0x20 || byte === NEWLINE || byte === 0x0d || byte === 0x09;

const startsWithBom = (chunk: Buffer) => chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf;

/** The newlines among the blank bytes skipBlank last skipped: its second result. */
let skippedNewlines = 0;

/**
 * Where the blank bytes (space, tab, CR, LF) from `start` end; how many newlines they hold goes to
 * skippedNewlines. A plain bounded loop over the bytes, about 2 ns a byte once optimized, so a gigabyte of
 * blank lines costs seconds (readline took 140 s). On bytes rather than the decoded text: once ioredis is
 * loaded (it subclasses String), V8 runs String.prototype.charCodeAt loops three times slower. And its results
 * are a return value and a module variable, not an object's properties: V8 optimizes the loop on stack
 * replacement before the function has ever returned, and a property store without type feedback after the
 * loop threw that code away at every call.
 */
function skipBlank(bytes: Buffer, start: number, end: number): number {
  let index = start;
  let newlines = 0;
  for (; index < end; index++) {
    const byte = bytes[index] as number;
    if (byte === NEWLINE) newlines++;
    else if (byte !== 0x20 && byte !== 0x0d && byte !== 0x09) break;
  }
  skippedNewlines = newlines;
  return index;
}

/**
 * NDJSON split on bytes: lines end at \n (a \r before it is whitespace to JSON.parse). The complete lines of a
 * chunk are decoded in one go, then cut apart in the text; blank runs are skipped on the bytes, found again
 * from the newlines passed (a newline byte is never part of a UTF-8 sequence, so the k-th newline of the text
 * is the k-th of the bytes, whatever invalid UTF-8 the decoding replaced). Blank lines cost a byte comparison
 * each. A line longer than `maxRecordBytes` is reported and skipped up to
 * its newline without being kept, so memory stays at about one record whatever the input.
 */
async function* readNdjson(
  chunks: AsyncIterable<Buffer>,
  maxRecordBytes: number,
): AsyncGenerator<SourceRecord[]> {
  let line = 1;
  // A line that goes on past its chunk: its parts so far and their bytes, or skipping once it is too long.
  let parts: Buffer[] = [];
  let size = 0;
  let state: 'between' | 'line' | 'skipping' = 'between';
  let first = true;
  for await (const chunk of chunks) {
    // This chunk's records, handed over together: one await for many lines rather than one each.
    const out: SourceRecord[] = [];
    let position = first && startsWithBom(chunk) ? 3 : 0;
    first = false;
    // The end of a line that earlier chunks began.
    if (state !== 'between') {
      const newline = chunk.indexOf(NEWLINE, position);
      const stop = newline === -1 ? chunk.length : newline;
      if (state === 'line') {
        size += stop - position;
        if (size > maxRecordBytes) {
          out.push({ line, error: tooLong(maxRecordBytes) });
          parts = [];
          state = 'skipping';
        } else if (newline === -1) parts.push(chunk.subarray(position));
        else {
          parts.push(chunk.subarray(position, stop));
          const text = Buffer.concat(parts).toString('utf8');
          parts = [];
          out.push(parseRecord(line, text));
        }
      }
      if (newline === -1) {
        if (out.length > 0) yield out;
        continue;
      }
      line++;
      state = 'between';
      position = newline + 1;
    }
    // The lines that end in this chunk, cut apart in the text. Blank runs are skipped on the bytes: `synced`
    // is a byte offset and `behind` how many newlines the text has passed since it.
    const last = chunk.lastIndexOf(NEWLINE);
    if (last >= position) {
      const text = chunk.toString('utf8', position, last + 1);
      const end = text.length;
      let index = 0;
      let synced = position;
      let behind = 0;
      while (index < end) {
        if (isBlank(text.charCodeAt(index))) {
          for (; behind > 0; behind--) synced = chunk.indexOf(NEWLINE, synced) + 1;
          const stop = skipBlank(chunk, synced, last + 1);
          line += skippedNewlines;
          // Blank bytes are one character each.
          index += stop - synced;
          synced = stop;
          if (index >= end) break;
        }
        const newline = text.indexOf('\n', index);
        // A line within one chunk has at most 3 bytes a character: measured only when it could be too long.
        const record = text.slice(index, newline);
        if (record.length * 3 > maxRecordBytes && Buffer.byteLength(record) > maxRecordBytes)
          out.push({ line, error: tooLong(maxRecordBytes) });
        else out.push(parseRecord(line, record));
        line++;
        behind++;
        index = newline + 1;
      }
      position = last + 1;
    }
    // The beginning of a line that goes on in the next chunk (no newline is left in this one).
    position = skipBlank(chunk, position, chunk.length);
    if (position < chunk.length) {
      size = chunk.length - position;
      if (size > maxRecordBytes) {
        out.push({ line, error: tooLong(maxRecordBytes) });
        state = 'skipping';
      } else {
        parts = [chunk.subarray(position)];
        state = 'line';
      }
    }
    if (out.length > 0) yield out;
  }
  if (state === 'line') yield [parseRecord(line, Buffer.concat(parts).toString('utf8'))];
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * A JSON array split into its elements on bytes, each then parsed by JSON.parse: the splitter only follows
 * strings and nesting, so one element costs memory for itself alone, and an element longer than
 * `maxRecordBytes` is reported and skipped without being kept. A malformed element is reported like a bad
 * NDJSON line; a source that is not one array (or ends before its closing bracket) throws.
 */
async function* readJsonArray(
  chunks: AsyncIterable<Buffer>,
  maxRecordBytes: number,
): AsyncGenerator<SourceRecord[]> {
  let state: 'before' | 'expecting' | 'element' | 'after' = 'before';
  let index = 0;
  // Inside an element: bracket depth, and where strings are.
  let depth = 0;
  let inString = false;
  let escaped = false;
  // The element so far: its parts from earlier chunks and its size, or skipping once it is too long.
  let parts: Buffer[] = [];
  let size = 0;
  let skipping = false;
  let afterComma = false;
  let first = true;
  for await (const chunk of chunks) {
    const out: SourceRecord[] = [];
    // What is wrong with the source: thrown once the records before it are handed over.
    let broken: SourceFormatError | undefined;
    let position = first && startsWithBom(chunk) ? 3 : 0;
    first = false;
    const end = chunk.length;
    let elementStart = 0;
    while (position < end) {
      const byte = chunk[position] as number;
      if (state === 'element') {
        if (inString) {
          if (escaped) escaped = false;
          else if (byte === BACKSLASH) escaped = true;
          else if (byte === QUOTE) inString = false;
        } else if (byte === QUOTE) inString = true;
        else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
        else if ((byte === CLOSE_BRACE || byte === CLOSE_BRACKET) && depth > 0) depth--;
        else if (depth === 0 && (byte === COMMA || byte === CLOSE_BRACKET)) {
          size += position - elementStart;
          const line = ++index;
          if (skipping || size > maxRecordBytes) out.push({ line, error: tooLong(maxRecordBytes) });
          else
            out.push(
              parseRecord(
                line,
                parts.length === 0
                  ? chunk.toString('utf8', elementStart, position)
                  : Buffer.concat([...parts, chunk.subarray(elementStart, position)]).toString('utf8'),
              ),
            );
          parts = [];
          size = 0;
          skipping = false;
          afterComma = byte === COMMA;
          state = afterComma ? 'expecting' : 'after';
        }
        position++;
        continue;
      }
      if (isBlank(byte)) {
        position++;
        continue;
      }
      if (state === 'before') {
        if (byte !== OPEN_BRACKET) {
          broken = new SourceFormatError('not a JSON array (it should start with "[")');
          break;
        }
        state = 'expecting';
        position++;
      } else if (state === 'after') {
        broken = new SourceFormatError('unexpected content after the end of the JSON array');
        break;
      } else if (byte === CLOSE_BRACKET && !afterComma) {
        // "[]"
        state = 'after';
        position++;
      } else {
        // An element starts here (after a trailing comma, an empty one: reported as not valid JSON).
        state = 'element';
        depth = 0;
        elementStart = position;
      }
    }
    if (state === 'element' && !skipping) {
      size += end - elementStart;
      if (size > maxRecordBytes) {
        skipping = true;
        parts = [];
      } else parts.push(chunk.subarray(elementStart));
    }
    if (out.length > 0) yield out;
    if (broken) throw broken;
  }
  // An empty source holds no records; one that opened an array must close it.
  if (state === 'expecting' || state === 'element')
    throw new SourceFormatError('the JSON array ends before its closing "]" (a truncated file?)');
}

/**
 * CSV with a header row, by csv-parse, driven a chunk at a time: its rows are taken as it parses them
 * (on_record), so none is lost when a later row stops it. csv-parse cannot resume after a row over its
 * max_record_size (it would keep buffering that row), so such a row stops the import with its line; other
 * broken rows are reported and skipped.
 */
async function* readCsv(
  chunks: AsyncIterable<Buffer>,
  maxRecordBytes: number,
): AsyncGenerator<SourceRecord[]> {
  const rows: SourceRecord[] = [];
  const parser = parseCsv({
    columns: (header: string[]) => {
      const names = header.map((name) => name.trim());
      // csv-parse defines the keys safely, but a "__proto__" column would reach code that assigns it.
      const refused = names.findIndex((name) => name.split('.').includes('__proto__'));
      if (refused !== -1)
        throw new SourceFormatError(
          `the CSV header names a column "${names[refused]}" (column ${refused + 1}), which is not allowed`,
        );
      return names;
    },
    bom: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    max_record_size: maxRecordBytes,
    on_record: (record: Record<string, string>, { lines }) => {
      rows.push({ line: lines, value: record });
      return undefined;
    },
    on_skip: (error: CsvError | undefined) => {
      if (!error) return undefined;
      const line = (error as CsvError & { lines?: number }).lines ?? 0;
      if (error.code === 'CSV_MAX_RECORD_SIZE')
        throw new SourceFormatError(
          `line ${line}: a CSV row longer than ${maxRecordBytes} bytes (MARQUEE_IMPORT_MAX_RECORD_BYTES); ` +
            'reading stopped there',
        );
      rows.push({ line, error: `not a valid CSV row (${error.message})` });
      return undefined;
    },
  });
  // Errors reach the write callbacks; nothing is pushed to the readable side, which only has to end.
  parser.on('error', () => undefined);
  parser.resume();
  const write = (chunk: Buffer | undefined) =>
    new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      if (chunk) parser.write(chunk, done);
      else parser.end(done);
    });
  let failure: Error | undefined;
  try {
    for await (const chunk of chunks) {
      await write(chunk).catch((error: unknown) => (failure = error as Error));
      if (rows.length > 0) yield rows.splice(0);
      if (failure) throw failure;
    }
    await write(undefined);
    if (rows.length > 0) yield rows.splice(0);
  } finally {
    parser.destroy();
  }
}

/**
 * The records of a file or request body, a chunk's worth at a time, in constant memory: NDJSON (one object
 * per line), CSV with a header row, or a JSON array; gzip is recognised by its first bytes. For JSON arrays,
 * `line` is the record's position in the array. A broken or over-long record comes with its error and
 * reading goes on (a CSV row over the limit excepted); a broken stream (truncated gzip, no array, a refused
 * CSV header) throws, and so does a source past `limits.maxBytes` (SourceTooLargeError), after the records
 * before it. `onInput` hears of every chunk of the input as it arrives (compressed bytes).
 */
export function readRecordBatches(
  input: Readable,
  format: ImportFormat,
  limits: ReadLimits,
  options: { onInput?: (bytes: number) => void } = {},
): AsyncGenerator<SourceRecord[]> {
  const chunks = content(input, limits.maxBytes, options.onInput);
  if (format === 'ndjson') return readNdjson(chunks, limits.maxRecordBytes);
  if (format === 'csv') return readCsv(chunks, limits.maxRecordBytes);
  return readJsonArray(chunks, limits.maxRecordBytes);
}

/** readRecordBatches one record at a time (simpler to consume; an await for every record). */
export async function* readRecords(
  input: Readable,
  format: ImportFormat,
  limits: ReadLimits,
  options: { onInput?: (bytes: number) => void } = {},
): AsyncGenerator<SourceRecord> {
  for await (const batch of readRecordBatches(input, format, limits, options)) yield* batch;
}
