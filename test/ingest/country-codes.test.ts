import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import t from 'tap';
import { countryCode } from '../../src/ingest/country-codes.ts';
import { applyMapping, parseMapping } from '../../src/ingest/mapping.ts';
import { NETFLIX_CSV, netflixAbsent } from '../helpers/netflix.ts';

// Issue 17: the netflix mapping stores ISO 3166-1 codes in `regions`, the spelling the `region` filter uses.

t.test('country names and codes become ISO 3166-1 alpha-2 codes', async (t) => {
  for (const [name, code] of [
    ['United States', 'US'],
    ['United Kingdom', 'GB'],
    ['south korea', 'KR'],
    ['  France ', 'FR'],
    ['Czech Republic', 'CZ'],
    ['West Germany', 'DE'],
    ['us', 'US'],
  ] as const)
    t.equal(countryCode(name), code, name);
  t.equal(countryCode('Atlantis'), undefined, 'an unknown name has no code');
  t.equal(countryCode('constructor'), undefined, 'nor does a name that is a property of objects');
});

t.test('the netflix mapping turns "country" into codes', async (t) => {
  const mapping = parseMapping(
    JSON.parse(await readFile(new URL('../../mappings/netflix.json', import.meta.url), 'utf8')) as Record<
      string,
      string
    >,
  );
  const record = applyMapping(mapping, {
    show_id: 's1',
    title: 'A title',
    country: 'United States, India, , Atlantis',
  });
  t.same(record.regions, ['US', 'IN', 'Atlantis'], 'codes; an unknown name is kept as it was');
});

t.test('every country of the netflix catalog has a code', { skip: netflixAbsent }, async (t) => {
  const rows = parse<{ country?: string }>(await readFile(NETFLIX_CSV), { columns: true });
  const names = new Set(
    rows.flatMap((row) =>
      (row.country ?? '')
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean),
    ),
  );
  const unmapped = [...names].filter((name) => countryCode(name) === undefined);
  t.same(unmapped, [], `all ${names.size} country names map to a code`);
});
