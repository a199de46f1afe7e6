/**
 * The import reader alone (src/ingest/record-reader.ts), no database: how fast it splits and parses NDJSON
 * against the readline loop it replaced, and what the gzip bombs of issue 16 cost it. Each measurement runs in
 * a child process of its own (node --disable-proto=throw, ioredis loaded as in the server: it makes V8's
 * string loops slower), reporting wall time, CPU time and peak RSS. Scenarios:
 *
 * - items: 200 MB of item lines (about 260 bytes each), readline + JSON.parse against readRecords;
 * - short: 200 MB of short lines ({"id":"i123"}), where splitting costs the most per byte;
 * - blank: gzip of 1 GiB of newlines (readline took 140 s of CPU for it in issue 16; measured on 128 MiB);
 * - bomb: gzip of 1 GiB of "A" without a newline (readline died with RangeError: Invalid string length).
 *
 * Run: node bench/record-reader.bench.ts [--scenarios items,short,blank,bomb] [--megabytes 200]
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

const MiB = 1024 * 1024;
const { values } = parseArgs({
  options: {
    scenarios: { type: 'string', default: 'items,short,blank,bomb' },
    megabytes: { type: 'string', default: '200' },
    child: { type: 'string' },
  },
});

interface Measure {
  reader: string;
  records: number;
  errors: number;
  threw?: string;
  seconds: number;
  cpuSeconds: number;
  peakRssMb: number;
}

/** In the child: reads `file` with one reader and prints a Measure. */
async function measure(reader: 'readline' | 'readRecords', file: string): Promise<void> {
  await import('ioredis');
  const { createReadStream } = await import('node:fs');
  const { createInterface } = await import('node:readline');
  const { createGunzip } = await import('node:zlib');
  const { readRecordBatches } = await import('../src/ingest/record-reader.ts');
  let peak = 0;
  const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = performance.now();
  const cpu = process.cpuUsage();
  let records = 0;
  let errors = 0;
  let threw: string | undefined;
  try {
    if (reader === 'readRecords') {
      const limits = { maxBytes: 64 * 1024 * MiB, maxRecordBytes: MiB };
      // As the import reader consumes them: a chunk's records at a time.
      for await (const batch of readRecordBatches(createReadStream(file), 'ndjson', limits))
        for (const record of batch) {
          records++;
          if (record.error !== undefined) errors++;
        }
    } else {
      // The loop readRecords had before issue 16.
      const raw = createReadStream(file);
      const input = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
      for await (const text of createInterface({ input, crlfDelay: Infinity })) {
        if (text.trim() === '') continue;
        records++;
        try {
          JSON.parse(text);
        } catch {
          errors++;
        }
      }
    }
  } catch (error) {
    threw = (error as Error).message;
  }
  clearInterval(sample);
  const used = process.cpuUsage(cpu);
  const result: Measure = {
    reader,
    records,
    errors,
    ...(threw && { threw }),
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
    peakRssMb: Math.max(peak, process.memoryUsage().rss) / MiB,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function run(reader: string, file: string): Measure {
  const child = spawnSync(
    process.execPath,
    ['--disable-proto=throw', import.meta.filename, '--child', `${reader}:${file}`],
    { encoding: 'utf8', maxBuffer: 16 * MiB },
  );
  const line = child.stdout.trim().split('\n').pop() ?? '';
  if (!line.startsWith('{'))
    return {
      reader,
      records: 0,
      errors: 0,
      threw: child.stderr.split('\n').find((text) => /Error/.test(text)) ?? `exit ${child.status}`,
      seconds: 0,
      cpuSeconds: 0,
      peakRssMb: 0,
    };
  return JSON.parse(line) as Measure;
}

async function writeLines(file: string, bytes: number, line: (index: number) => string): Promise<void> {
  const out = createWriteStream(file);
  let written = 0;
  for (let index = 0; written < bytes; index++) {
    const text = `${line(index)}\n`;
    written += text.length;
    if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve) => out.end(() => resolve()));
}

async function main(): Promise<void> {
  const directory = await mkdtemp(join(os.tmpdir(), 'marquee-reader-'));
  const bytes = Number(values.megabytes) * MiB;
  const rows: (Measure & { scenario: string })[] = [];
  try {
    for (const scenario of (values.scenarios ?? '').split(',')) {
      const file = join(
        directory,
        scenario === 'blank' || scenario === 'bomb' ? `${scenario}.gz` : `${scenario}.ndjson`,
      );
      if (scenario === 'items')
        await writeLines(file, bytes, (index) =>
          JSON.stringify({
            id: `item-${index}`,
            type: 'movie',
            title: `The Title Number ${index}`,
            description: `A film about thing ${index} and other things that happen in it, told slowly.`,
            genres: ['drama', 'comedy'],
            releaseDate: '2001-02-03',
            attributes: { studio: 'Fox', n: index },
          }),
        );
      else if (scenario === 'short') await writeLines(file, bytes, (index) => `{"id":"i${index}"}`);
      else {
        // Concatenated gzip members, as gunzip reads them: 1 GiB decompressed (128 MiB for readline's blank
        // run, which would take minutes), about 1 MB on disk.
        const member = gzipSync(Buffer.alloc(MiB, scenario === 'blank' ? '\n' : 'A'), { level: 9 });
        await writeFile(file, Buffer.concat(Array.from({ length: 1024 }, () => member)));
        if (scenario === 'blank')
          await writeFile(
            join(directory, 'blank-128.gz'),
            Buffer.concat(Array.from({ length: 128 }, () => member)),
          );
      }
      for (const reader of ['readline', 'readRecords']) {
        const input = scenario === 'blank' && reader === 'readline' ? join(directory, 'blank-128.gz') : file;
        rows.push({
          scenario: scenario === 'blank' && reader === 'readline' ? 'blank (128 MiB)' : scenario,
          ...run(reader, input),
        });
      }
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
  console.table(
    rows.map((row) => ({
      scenario: row.scenario,
      reader: row.reader,
      records: row.records,
      errors: row.errors,
      'wall s': row.seconds.toFixed(2),
      'CPU s': row.cpuSeconds.toFixed(2),
      'peak RSS MB': Math.round(row.peakRssMb),
      threw: row.threw ?? '',
    })),
  );
}

if (values.child) {
  const [reader, ...file] = values.child.split(':');
  await measure(reader as 'readline' | 'readRecords', file.join(':'));
} else await main();
