import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Test } from 'tap';
import type { GenreLabel } from '../../src/chat/genre-resolver.ts';
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

/** The netflix catalog's genre labels with their item counts (listed_in), for tests that need no database. */
export const NETFLIX_GENRES: GenreLabel[] = (
  [
    ['International Movies', 2752],
    ['Dramas', 2427],
    ['Comedies', 1674],
    ['International TV Shows', 1351],
    ['Documentaries', 869],
    ['Action & Adventure', 859],
    ['TV Dramas', 763],
    ['Independent Movies', 756],
    ['Children & Family Movies', 641],
    ['Romantic Movies', 616],
    ['TV Comedies', 581],
    ['Thrillers', 577],
    ['Crime TV Shows', 470],
    ["Kids' TV", 451],
    ['Docuseries', 395],
    ['Music & Musicals', 375],
    ['Romantic TV Shows', 370],
    ['Horror Movies', 357],
    ['Stand-Up Comedy', 343],
    ['Reality TV', 255],
    ['British TV Shows', 253],
    ['Sci-Fi & Fantasy', 243],
    ['Sports Movies', 219],
    ['Anime Series', 176],
    ['Spanish-Language TV Shows', 174],
    ['TV Action & Adventure', 168],
    ['Korean TV Shows', 151],
    ['Classic Movies', 116],
    ['LGBTQ Movies', 102],
    ['TV Mysteries', 98],
    ['Science & Nature TV', 92],
    ['TV Sci-Fi & Fantasy', 84],
    ['TV Horror', 75],
    ['Anime Features', 71],
    ['Cult Movies', 71],
    ['Teen TV Shows', 69],
    ['Faith & Spirituality', 65],
    ['TV Thrillers', 57],
    ['Movies', 57],
    ['Stand-Up Comedy & Talk Shows', 56],
    ['Classic & Cult TV', 28],
    ['TV Shows', 16],
  ] as const
).map(([label, count]) => ({ label, count }));
