import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Test } from 'tap';
import type { TestApp } from './test-app.ts';

// The netflix catalog of ../shared/data (8,807 titles), imported the way the README says: the CSV as it is,
// with mappings/netflix.json. Tests that use it skip, saying why, when the file is absent.

export const NETFLIX_CSV = new URL('../../../shared/data/netflix/netflix_titles.csv', import.meta.url)
  .pathname;

/** For tap's `skip` option: why a netflix test cannot run here, or false when it can (never a silent pass). */
export const netflixAbsent: string | false = existsSync(NETFLIX_CSV) ? false : `${NETFLIX_CSV} is absent`;

/** mappings/netflix.json as the `map` query parameter of POST /v1/imports. */
export async function netflixMapParameter(): Promise<string> {
  const mapping = JSON.parse(
    await readFile(new URL('../../mappings/netflix.json', import.meta.url), 'utf8'),
  ) as Record<string, string>;
  return Object.entries(mapping)
    .map(([target, source]) => `${target}=${source}`)
    .join(',');
}

/** Imports the whole catalog through the HTTP API (waiting for the end) and checks every title went in. */
export async function importNetflix(t: Test, inject: TestApp['inject']): Promise<void> {
  const imported = await inject({
    method: 'POST',
    url: `/v1/imports?kind=items&format=csv&wait=true&map=${encodeURIComponent(await netflixMapParameter())}`,
    payload: await readFile(NETFLIX_CSV),
    headers: { 'content-type': 'text/csv' },
  });
  t.equal(imported.statusCode, 200, imported.body);
  t.match(imported.json(), {
    status: 'completed',
    counts: { received: 8807, inserted: 8807, embedded: 8807 },
  });
}
