import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
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

/** True when a folder holds no PostgreSQL cluster yet. */
export function isNewDataDir(dataDir: string): boolean {
  return dataDir === 'memory' || !existsSync(join(dataDir, 'PG_VERSION'));
}
