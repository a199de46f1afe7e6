import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { extract } from 'tar';
import type { PGlite } from '@electric-sql/pglite';

// Creating a new PGlite cluster runs initdb in WebAssembly: about 6 s here, against under 1 s to restore a
// saved empty cluster. The first cluster made on a machine (at `npm install`, or else at the first start)
// is saved under node_modules/.cache and copied for every new embedded database after it: first starts
// and each test's in-memory database become several seconds faster.

function pgliteDir(): string {
  const entry = fileURLToPath(import.meta.resolve('@electric-sql/pglite'));
  const marker = `${sep}node_modules${sep}@electric-sql${sep}pglite${sep}`;
  return entry.slice(0, entry.lastIndexOf(marker) + marker.length - 1);
}

/** Where the saved empty cluster lives; its name changes with the PGlite version that made it. */
export async function embeddedTemplatePath(): Promise<string> {
  const packageDir = pgliteDir();
  const { version } = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as {
    version: string;
  };
  const nodeModules = dirname(dirname(packageDir));
  return join(nodeModules, '.cache', 'marquee', `pglite-${version}-empty-cluster.tar.gz`);
}

export async function readEmbeddedTemplate(): Promise<Blob | undefined> {
  const path = await embeddedTemplatePath();
  return existsSync(path) ? new Blob([await readFile(path)]) : undefined;
}

/** Saves a freshly created, still empty cluster as the template (best effort; atomic rename). */
export async function saveEmbeddedTemplate(database: PGlite): Promise<string> {
  const path = await embeddedTemplatePath();
  const dump = await database.dumpDataDir('gzip');
  await mkdir(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  await writeFile(partial, Buffer.from(await dump.arrayBuffer()));
  await rename(partial, path);
  return path;
}

/**
 * Restores the saved empty cluster into a new data folder, streaming it from the gzip file to disk (the `tar`
 * package); false when there is no template. PGlite's own `loadDataDir` inflates the whole 40 MB tar in
 * memory and writes it through the WebAssembly file system: the freed buffers kept the process about
 * 55-65 MB bigger for its whole life (bench/pglite-memory.bench.ts, template-disk against reopen). The files
 * land in a scratch folder first and move into place when complete, PG_VERSION (the marker isNewDataDir
 * looks for) last; a failure leaves the data folder as it was.
 */
export async function restoreEmbeddedTemplate(dataDir: string): Promise<boolean> {
  const path = await embeddedTemplatePath();
  if (!existsSync(path)) return false;
  const scratch = join(dataDir, `.template-${process.pid}`);
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true, mode: 0o700 });
  try {
    await extract({ file: path, cwd: scratch, gzip: true, strict: true });
    const entries = await readdir(scratch);
    if (!entries.includes('PG_VERSION')) throw new Error(`${path} holds no PostgreSQL cluster`);
    // A template must be a bare cluster: one that holds a data folder's other files is refused.
    if (entries.some((entry) => entry.startsWith('.template-') || entry === 'marquee.lock'))
      throw new Error(`${path} holds more than an empty cluster`);
    for (const entry of [...entries.filter((name) => name !== 'PG_VERSION'), 'PG_VERSION'])
      await rename(join(scratch, entry), join(dataDir, entry));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return true;
}

/** True when a folder holds no PostgreSQL cluster yet. */
export function isNewDataDir(dataDir: string): boolean {
  return dataDir === 'memory' || !existsSync(join(dataDir, 'PG_VERSION'));
}
