import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import t from 'tap';
import {
  type ImportFormat,
  type ReadLimits,
  readRecords,
  type SourceRecord,
  SourceTooLargeError,
} from '../../src/ingest/record-reader.ts';

const MiB = 1024 * 1024;
const LIMITS: ReadLimits = { maxBytes: 16 * 1024 * MiB, maxRecordBytes: MiB };

/** Everything readRecords yields, then what it threw (if it did). */
async function read(
  chunks: Iterable<Buffer | string> | AsyncIterable<Buffer>,
  format: ImportFormat,
  limits: Partial<ReadLimits> = {},
): Promise<{ records: SourceRecord[]; thrown?: Error }> {
  const records: SourceRecord[] = [];
  const input = Readable.from(chunks, { objectMode: false });
  try {
    for await (const record of readRecords(input, format, { ...LIMITS, ...limits })) records.push(record);
  } catch (error) {
    return { records, thrown: error as Error };
  }
  return { records };
}

/** `text` cut at the given offsets (bytes), as the network or gunzip would. */
function cutAt(bytes: Buffer, offsets: number[]): Buffer[] {
  const cuts = [...new Set(offsets.map((offset) => offset % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > start) chunks.push(bytes.subarray(start, cut));
    start = Math.max(start, cut);
  }
  return chunks;
}

/** `size` bytes of `byte` in 1 MiB pieces, never held at once. */
async function* repeated(byte: number, size: number): AsyncGenerator<Buffer> {
  const piece = Buffer.alloc(MiB, byte);
  for (let sent = 0; sent < size; sent += MiB) yield piece.subarray(0, Math.min(MiB, size - sent));
}

// Objects with text that JSON must escape (quotes, backslashes, newlines, brackets, commas) and non-ASCII.
const recordArbitrary = fc.record({
  id: fc.string({ minLength: 1, maxLength: 12 }),
  title: fc.string({ unit: 'binary', maxLength: 30 }),
  tags: fc.array(fc.constantFrom('a,b', '[x]', '{y}', '"q"', '\\', '\n', 'é', '🎬'), { maxLength: 4 }),
  nested: fc.option(fc.record({ n: fc.integer(), list: fc.array(fc.integer(), { maxLength: 3 }) })),
});

t.test('NDJSON: any records, blank lines, CRLF and chunk boundaries read the same', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          value: recordArbitrary,
          blanksBefore: fc.integer({ min: 0, max: 2 }),
          indent: fc.constantFrom('', ' ', '\t  '),
          crlf: fc.boolean(),
        }),
        { maxLength: 30 },
      ),
      fc.array(fc.nat(), { maxLength: 20 }),
      fc.boolean(),
      async (lines, cuts, gzip) => {
        let text = '';
        let line = 1;
        const expected: SourceRecord[] = [];
        for (const { value, blanksBefore, indent, crlf } of lines) {
          for (let blank = 0; blank < blanksBefore; blank++, line++) text += blank % 2 ? ' \t\r\n' : '\n';
          // The parsed form, as the reader will see it (JSON drops undefined and keeps -0 as 0).
          expected.push({ line, value: JSON.parse(JSON.stringify(value)) as Record<string, unknown> });
          text += `${indent}${JSON.stringify(value)}${crlf ? '\r\n' : '\n'}`;
          line++;
        }
        const bytes = gzip ? gzipSync(text) : Buffer.from(text);
        const { records, thrown } = await read(cutAt(bytes, cuts), 'ndjson');
        t.same(thrown, undefined);
        if (JSON.stringify(records) !== JSON.stringify(expected))
          throw new Error(`read ${JSON.stringify(records)}, expected ${JSON.stringify(expected)}`);
      },
    ),
    { numRuns: 200 },
  );
});

t.test('JSON array: any elements, whitespace and chunk boundaries read the same', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(recordArbitrary, fc.constant(7), fc.constant('x')), { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      fc.constantFrom('', ' ', '\n  ', '\r\n'),
      async (values, cuts, space) => {
        const text = `${space}[${space}${values.map((value) => JSON.stringify(value)).join(`${space},${space}`)}${space}]${space}`;
        const expected = values.map((value, index) =>
          typeof value === 'object'
            ? { line: index + 1, value: JSON.parse(JSON.stringify(value)) as Record<string, unknown> }
            : { line: index + 1, error: 'not a JSON object' },
        );
        const { records, thrown } = await read(cutAt(Buffer.from(text), cuts), 'json');
        t.same(thrown, undefined);
        if (JSON.stringify(records) !== JSON.stringify(expected))
          throw new Error(`read ${JSON.stringify(records)}, expected ${JSON.stringify(expected)}`);
      },
    ),
    { numRuns: 200 },
  );
});

t.test('NDJSON: a line over maxRecordBytes is one error by its line, and reading goes on', async (t) => {
  const long = `{"id": "big", "title": "${'x'.repeat(5_000)}"}`;
  const { records } = await read(
    cutAt(Buffer.from(`\ufeff{"id": "a"}\n${long}\n\n{"id": "b"}\n${long}`), [10, 2_000, 4_000, 5_020]),
    'ndjson',
    { maxRecordBytes: 4_096 },
  );
  t.same(records, [
    { line: 1, value: { id: 'a' } },
    { line: 2, error: 'longer than 4096 bytes (MARQUEE_IMPORT_MAX_RECORD_BYTES)' },
    { line: 4, value: { id: 'b' } },
    { line: 5, error: 'longer than 4096 bytes (MARQUEE_IMPORT_MAX_RECORD_BYTES)' },
  ]);
});

t.test('NDJSON: invalid UTF-8, leading blanks and blank runs keep the line numbers right', async (t) => {
  const bytes = Buffer.concat([
    Buffer.from('{"id": "a", "t": "'),
    Buffer.from([0xff, 0xfe, 0xc3]),
    Buffer.from('"}\n  \t\n\n   {"id": "b"}\r\n\n'),
    Buffer.from('{"id": "\u00e9"}\n \n{"id": "c"}'),
  ]);
  for (const cuts of [[], [5], [20, 21, 22], [30, 31, 40, 41, 50]]) {
    const { records } = await read(cutAt(bytes, cuts), 'ndjson');
    t.same(
      records,
      [
        { line: 1, value: { id: 'a', t: '\ufffd\ufffd\ufffd' } },
        { line: 4, value: { id: 'b' } },
        { line: 6, value: { id: 'é' } },
        { line: 8, value: { id: 'c' } },
      ],
      `cut at ${cuts.join(', ')}`,
    );
  }
});

t.test(
  'JSON array: an element over maxRecordBytes is one error by its position, and reading goes on',
  async (t) => {
    const { records, thrown } = await read(
      ['[{"id": "a"}, {"id": "big", "t": "', 'y'.repeat(300_000), '", "u": ["]", "}"]}, {"id": "b"}]'],
      'json',
      { maxRecordBytes: 100_000 },
    );
    t.same(thrown, undefined);
    t.same(records, [
      { line: 1, value: { id: 'a' } },
      { line: 2, error: 'longer than 100000 bytes (MARQUEE_IMPORT_MAX_RECORD_BYTES)' },
      { line: 3, value: { id: 'b' } },
    ]);
  },
);

t.test('JSON array: what is not one array stops reading with a clear error', async (t) => {
  t.match((await read(['{"id": "a"}'], 'json')).thrown?.message, /not a JSON array/);
  t.match((await read(['[{"id": "a"}, {"id"'], 'json')).thrown?.message, /ends before its closing/);
  const trailing = await read(['[{"id": "a"}] {"id": "b"}'], 'json');
  t.same(trailing.records, [{ line: 1, value: { id: 'a' } }]);
  t.match(trailing.thrown?.message, /after the end of the JSON array/);
  t.same(await read(['[', ' ]'], 'json'), { records: [] });
  t.same((await read(['[{"id": 1}, {"id": }, {"id": 3}]'], 'json')).records, [
    { line: 1, value: { id: 1 } },
    { line: 2, error: `not valid JSON (Unexpected token '}', "{"id": }" is not valid JSON)` },
    { line: 3, value: { id: 3 } },
  ]);
});

t.test('CSV: a row over maxRecordBytes stops reading with its line, after the rows before it', async (t) => {
  const { records, thrown } = await read(
    [`id,title\na,A\nb,"${'z'.repeat(3_000)}`, `${'z'.repeat(3_000)}"\nc,C\n`],
    'csv',
    { maxRecordBytes: 4_096 },
  );
  t.same(records, [{ line: 2, value: { id: 'a', title: 'A' } }]);
  t.match(thrown?.message, /^line 3: a CSV row longer than 4096 bytes \(MARQUEE_IMPORT_MAX_RECORD_BYTES\)/);
});

t.test('CSV: a header naming __proto__ is refused, naming the column', async (t) => {
  for (const header of ['id,__proto__', 'id,attributes.__proto__', 'id, __proto__ '])
    t.match(
      (await read([`${header}\na,b\n`], 'csv')).thrown?.message,
      /names a column "(attributes\.)?__proto__" \(column 2\), which is not allowed/,
      header,
    );
  t.same(Object.getPrototypeOf({}), Object.prototype);
});

t.test(
  'past maxBytes reading stops with SourceTooLargeError, after the records before the limit',
  async (t) => {
    const text = Array.from({ length: 100 }, (_, index) => JSON.stringify({ id: `r${index}` })).join('\n');
    for (const gzip of [false, true]) {
      const { records, thrown } = await read(
        cutAt(gzip ? gzipSync(text) : Buffer.from(text), [7, 100]),
        'ndjson',
        { maxBytes: 1_024 },
      );
      t.ok(thrown instanceof SourceTooLargeError, `${thrown?.message}`);
      t.match(thrown?.message, /MARQUEE_IMPORT_MAX_BYTES \(1024 bytes/);
      // Each line is 12 or 13 bytes with its newline: the lines that end within the first 1,024 bytes.
      const whole = text.slice(0, 1_024).split('\n').length - 1;
      t.equal(records.length, whole, `gzip ${gzip}: every line that ended before the limit`);
    }
  },
);

t.test('a gzip bomb: 1 GiB of "A" without a newline is one rejected line in bounded memory', async (t) => {
  // Concatenated gzip members, as gunzip reads them: 1 GiB once decompressed, about 1 MB compressed.
  const member = gzipSync(Buffer.alloc(MiB, 'A'), { level: 9 });
  const bomb = Buffer.concat(Array.from({ length: 1024 }, () => member));
  t.ok(bomb.length < 2 * MiB, `${bomb.length} bytes compressed`);
  const before = process.memoryUsage().rss;
  let peak = before;
  const watch = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = performance.now();
  const { records, thrown } = await read(
    (function* () {
      for (let offset = 0; offset < bomb.length; offset += 64 * 1024)
        yield bomb.subarray(offset, offset + 64 * 1024);
      yield gzipSync('\n{"id": "after"}\n');
    })(),
    'ndjson',
  );
  clearInterval(watch);
  t.same(thrown, undefined);
  t.same(records, [
    { line: 1, error: 'longer than 1048576 bytes (MARQUEE_IMPORT_MAX_RECORD_BYTES)' },
    { line: 2, value: { id: 'after' } },
  ]);
  t.ok(peak - before < 100 * MiB, `memory grew by ${((peak - before) / MiB).toFixed(0)} MiB`);
  t.comment(`1 GiB of "A" read in ${((performance.now() - started) / 1000).toFixed(1)} s`);
});

t.test('blank lines cost little: 256 MiB of them, and the line numbers stay right', async (t) => {
  const started = process.cpuUsage();
  const { records } = await read(
    (async function* () {
      yield* repeated(0x0a, 256 * MiB);
      yield Buffer.from('{"id": "last"}');
    })(),
    'ndjson',
  );
  const cpu = process.cpuUsage(started);
  t.same(records, [{ line: 256 * MiB + 1, value: { id: 'last' } }]);
  const seconds = (cpu.user + cpu.system) / 1e6;
  t.comment(`256 MiB of blank lines: ${seconds.toFixed(2)} s of CPU`);
  // readline took about 35 s of CPU for this much (140 s a GiB).
  t.ok(seconds < 15, `${seconds.toFixed(2)} s of CPU`);
});

t.test('a truncated gzip and an input error stop reading with the error', async (t) => {
  const gzip = gzipSync('{"id": "a"}\n{"id": "b"}\n'.repeat(1000));
  const truncated = await read([gzip.subarray(0, gzip.length - 20)], 'ndjson');
  t.match(truncated.thrown?.message, /unexpected end of file/);
  const broken = new Readable({ read() {} });
  broken.push('{"id": "a"}\n{"id"');
  setImmediate(() => broken.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
  const records: SourceRecord[] = [];
  await t.rejects(async () => {
    for await (const record of readRecords(broken, 'ndjson', LIMITS)) records.push(record);
  }, /aborted/);
  t.same(records, [{ line: 1, value: { id: 'a' } }]);
});
