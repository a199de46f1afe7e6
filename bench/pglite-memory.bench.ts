/**
 * Where an embedded database's memory goes.
 *
 * Opens PGlite on this thread (as src/db/pglite.worker.ts does on its worker) and prints the process's
 * resident memory after each step: Node alone; the PGlite modules imported; the database open; CREATE
 * EXTENSION vector; 10,000 rows with 256-dimensional vectors; their HNSW index; idle after a GC. By default
 * it runs PGlite as it comes (V8's tier-up, shared_buffers 128MB); the worker's settings are
 * `BENCH_LIFTOFF=1 BENCH_SETTINGS=shared_buffers=16MB ... restore-disk`.
 *
 * Run: node --expose-gc bench/pglite-memory.bench.ts [mode]
 *   memory           in memory (MEMFS), made by initdb
 *   disk             a new folder (NODEFS), made by initdb
 *   template-memory  in memory, from the saved empty cluster through PGlite's loadDataDir
 *   template-disk    a new folder, from the saved empty cluster through PGlite's loadDataDir
 *   restore-disk     a new folder, from the saved empty cluster through restoreEmbeddedTemplate (what the
 *                    worker does)
 *   reopen           a folder that already holds a cluster (BENCH_DATA_DIR, made by an earlier run)
 * Knobs: BENCH_ROWS (default 10000), BENCH_DIMENSION (default 256), BENCH_PGLITE_OPTIONS (JSON merged into
 * the PGlite options, e.g. '{"initialMemory":33554432,"startParams":[...]}'), BENCH_SETTINGS (a
 * comma-separated list of `name=value` startup settings added with -c to PGlite's default start
 * parameters), BENCH_LIFTOFF=1 (no TurboFan tier-up, as in the worker), BENCH_KEEP=1 (keep the new folder,
 * for a later reopen), BENCH_DATA_DIR (for reopen).
 *
 * It prints figures; it asserts nothing.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';

const mode = process.argv[2] ?? 'memory';
const ROWS = Number(process.env.BENCH_ROWS ?? 10_000);
const DIMENSION = Number(process.env.BENCH_DIMENSION ?? 256);
const BATCH = 500;

function status(): { rss: number; anon: number; file: number; hwm: number } {
  const text = readFileSync('/proc/self/status', 'utf8');
  const value = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) / 1024;
  return { rss: value('VmRSS'), anon: value('RssAnon'), file: value('RssFile'), hwm: value('VmHWM') };
}

const started = performance.now();
let wasmBytes = (): number => 0;
function report(step: string): void {
  (globalThis as { gc?: () => void }).gc?.();
  const s = status();
  const m = process.memoryUsage();
  const mb = (n: number) => (n / 2 ** 20).toFixed(0).padStart(5);
  console.log(
    `${step.padEnd(34)} rss${mb(s.rss * 2 ** 20)} anon${mb(s.anon * 2 ** 20)} file${mb(s.file * 2 ** 20)}` +
      ` peak${mb(s.hwm * 2 ** 20)} | js heap${mb(m.heapUsed)} arrayBuffers${mb(m.arrayBuffers)}` +
      ` wasm memory${mb(wasmBytes())} | ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

report('node alone');
if (process.env.BENCH_LIFTOFF) {
  // What src/db/pglite.worker.ts does: no TurboFan tier-up for the WebAssembly module compiled from here on.
  v8.setFlagsFromString('--no-wasm-tier-up');
  v8.setFlagsFromString('--no-wasm-dynamic-tiering');
}
const { PGlite } = await import('@electric-sql/pglite');
const { vector } = await import('@electric-sql/pglite-pgvector');
const { readEmbeddedTemplate, restoreEmbeddedTemplate } = await import('../src/db/embedded-template.ts');
report('modules imported');

const extra = JSON.parse(process.env.BENCH_PGLITE_OPTIONS ?? '{}') as Record<string, unknown>;
const settings = (process.env.BENCH_SETTINGS ?? '').split(',').filter(Boolean);
if (settings.length > 0)
  extra.startParams = [...PGlite.defaultStartParams, ...settings.flatMap((setting) => ['-c', setting])];

let dataDir = 'memory://';
let tempDir: string | undefined;
if (mode === 'disk' || mode === 'template-disk' || mode === 'restore-disk') {
  tempDir = await mkdtemp(join(os.tmpdir(), 'pglite-memory-'));
  dataDir = join(tempDir, 'data');
  if (mode === 'restore-disk') {
    if (!(await restoreEmbeddedTemplate(dataDir))) throw new Error('no saved template yet');
    report('template restored');
  }
} else if (mode === 'reopen') {
  dataDir = process.env.BENCH_DATA_DIR ?? '';
  if (!dataDir) throw new Error('reopen needs BENCH_DATA_DIR');
}
let loadDataDir: Blob | undefined;
if (mode.startsWith('template')) {
  loadDataDir = await readEmbeddedTemplate();
  if (!loadDataDir) throw new Error('no saved template yet');
  report('template read');
}
const database = await PGlite.create(dataDir, {
  extensions: { vector },
  ...(loadDataDir && { loadDataDir }),
  ...extra,
});
wasmBytes = () => (database as unknown as { mod: { HEAPU8: Uint8Array } }).mod.HEAPU8.byteLength;
report(`open (${mode})`);

const show = async (name: string) =>
  (await database.query<{ setting: string }>(`SELECT current_setting('${name}') AS setting`)).rows[0]
    ?.setting;
console.log(
  `  shared_buffers ${await show('shared_buffers')}, work_mem ${await show('work_mem')},` +
    ` maintenance_work_mem ${await show('maintenance_work_mem')}, wal_buffers ${await show('wal_buffers')}`,
);

await database.exec('CREATE EXTENSION IF NOT EXISTS vector');
report('CREATE EXTENSION vector');

await database.exec(
  `CREATE TABLE IF NOT EXISTS bench_items (id int PRIMARY KEY, title text NOT NULL, embedding vector(${DIMENSION}))`,
);
const existing =
  (await database.query<{ n: number }>('SELECT count(*)::int AS n FROM bench_items')).rows[0]?.n ?? 0;
const insertStarted = performance.now();
for (let first = existing; first < existing + ROWS; first += BATCH) {
  const ids: number[] = [];
  const titles: string[] = [];
  const vectors: string[] = [];
  for (let id = first; id < Math.min(first + BATCH, existing + ROWS); id++) {
    ids.push(id);
    titles.push(`Item ${id} `.repeat(20));
    vectors.push(
      `[${Array.from({ length: DIMENSION }, () => (Math.random() * 2 - 1).toFixed(5)).join(',')}]`,
    );
  }
  await database.query(
    `INSERT INTO bench_items SELECT id, title, v::vector FROM unnest($1::int[], $2::text[], $3::text[]) AS t(id, title, v)`,
    [ids, titles, vectors],
  );
}
report(`${ROWS} rows (${((performance.now() - insertStarted) / 1000).toFixed(1)} s)`);

const indexStarted = performance.now();
await database.exec(
  'CREATE INDEX IF NOT EXISTS bench_items_hnsw ON bench_items USING hnsw (embedding vector_cosine_ops)',
);
report(`HNSW index (${((performance.now() - indexStarted) / 1000).toFixed(1)} s)`);

const probe = `[${Array.from({ length: DIMENSION }, () => Math.random().toFixed(5)).join(',')}]`;
const queryStarted = performance.now();
for (let i = 0; i < 20; i++)
  await database.query('SELECT id FROM bench_items ORDER BY embedding <=> $1 LIMIT 10', [probe]);
report(`20 HNSW queries (${((performance.now() - queryStarted) / 20).toFixed(1)} ms each)`);

await database.exec('CHECKPOINT');
await new Promise((resolve) => setTimeout(resolve, 1000));
report('idle');
await database.close();
wasmBytes = () => 0;
report('closed');
if (tempDir && process.env.BENCH_KEEP) console.log(`kept ${dataDir}`);
else if (tempDir) await rm(tempDir, { recursive: true, force: true });
