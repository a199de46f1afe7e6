import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { buildTestApp } from '../helpers/test-app.ts';

// The netflix catalog alone takes about a minute in embedded mode on a busy 2-core machine.
t.setTimeout(300_000);

const ndjson = (records: unknown[]) => records.map((record) => JSON.stringify(record)).join('\n');
const NETFLIX = new URL('../../../shared/data/netflix/netflix_titles.csv', import.meta.url).pathname;

t.test('an NDJSON import with 5% corrupted lines imports the rest and reports each bad line', async (t) => {
  const { inject, database } = await buildTestApp(t);
  const lines: string[] = [];
  const bad = new Map<number, RegExp>();
  for (let index = 1; index <= 200; index++) {
    if (index % 20 === 0) {
      const kind = (index / 20) % 3;
      lines.push(
        kind === 0
          ? '{"id": "broken", "title": '
          : kind === 1
            ? `{"id": "x${index}"}`
            : `{"id": "y${index}", "title": "T", "durationSeconds": -5}`,
      );
      bad.set(index, kind === 0 ? /not valid JSON/ : kind === 1 ? /title/ : /durationSeconds/);
    } else lines.push(JSON.stringify({ id: `m${index}`, title: `Movie ${index}`, genres: ['drama'] }));
  }
  const response = await inject({
    method: 'POST',
    url: '/v1/imports?kind=items&format=ndjson&wait=true',
    headers: { 'content-type': 'application/x-ndjson' },
    payload: lines.join('\n'),
  });
  t.equal(response.statusCode, 200, response.body);
  const status = response.json();
  t.equal(status.status, 'completed');
  t.match(status.counts, {
    received: 200,
    inserted: 190,
    updated: 0,
    unchanged: 0,
    failed: 10,
    embedded: 190,
  });
  t.same(
    status.errors.map((error: { line: number }) => error.line),
    [...bad.keys()],
    'every bad line is reported by number',
  );
  for (const error of status.errors as { line: number; reason: string }[])
    t.match(error.reason, bad.get(error.line) ?? /never/, `line ${error.line}: ${error.reason}`);
  const count = await database.db
    .selectFrom('items')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  t.equal(Number(count.n), 190);

  const again = await inject({
    method: 'POST',
    url: '/v1/imports?kind=items&format=ndjson&wait=true',
    payload: gzipSync(lines.join('\n')),
    headers: { 'content-type': 'application/gzip' },
  });
  t.match(
    again.json().counts,
    { received: 200, inserted: 0, updated: 0, unchanged: 190, failed: 10, embedded: 0 },
    'the same file again (gzipped) changes nothing and embeds nothing',
  );

  const read = await inject({ method: 'GET', url: `/v1/imports/${status.importId}` });
  t.equal(read.statusCode, 200);
  t.equal(read.json().counts.inserted, 190);

  // The phases in order: created, read, last batch written and embedded, ended (index built).
  const { createdAt, readAt, batchesFinishedAt, finishedAt, durationMs } = status.timings;
  const [created, readDone, batchesDone, finished] = [createdAt, readAt, batchesFinishedAt, finishedAt].map(
    (value: string) => Date.parse(value),
  );
  t.ok(created! <= batchesDone! && batchesDone! <= finished!, JSON.stringify(status.timings));
  t.ok(created! <= readDone! && readDone! <= finished!);
  t.equal(durationMs, finished! - created!);
});

t.test('deletes, updates and a full sync with its safety threshold', async (t) => {
  const { inject, database } = await buildTestApp(t);
  const post = (query: string, records: unknown[]) =>
    inject({ method: 'POST', url: `/v1/imports?kind=items&wait=true&${query}`, payload: ndjson(records) });
  await post(
    '',
    Array.from({ length: 20 }, (_, index) => ({ id: `i${index}`, title: `T${index}` })),
  );
  const changed = await post('', [
    { id: 'i0', title: 'Changed' },
    { op: 'delete', id: 'i1' },
    { op: 'delete', id: 'nope' },
  ]);
  t.match(changed.json().counts, { updated: 1, deleted: 1, unchanged: 1 });

  const refused = await post('mode=sync', [{ id: 'i2', title: 'T2' }]);
  t.equal(refused.json().status, 'failed');
  t.match(refused.json().failure, /would delete 18 of 19 items/);
  const ids = async () =>
    (await database.db.selectFrom('items').select('id').orderBy('id').execute()).map((row) => row.id);
  t.equal((await ids()).length, 19, 'nothing deleted');

  const synced = await post('mode=sync&force=true', [
    { id: 'i2', title: 'T2' },
    { id: 'new', title: 'N' },
  ]);
  t.equal(synced.json().status, 'completed');
  t.match(synced.json().counts, { inserted: 1, unchanged: 1, deleted: 18 });
  t.same(await ids(), ['i2', 'new']);
});

t.test('bad import requests are 400 problems naming the parameter', async (t) => {
  const { inject } = await buildTestApp(t);
  for (const [url, field] of [
    ['/v1/imports?format=ndjson', 'kind'],
    ['/v1/imports?kind=items&format=xml', 'format'],
    ['/v1/imports?kind=items&map=title', 'map'],
    ['/v1/imports?kind=items&map=title=name:explode()', 'map'],
    ['/v1/imports?kind=events&mode=sync', 'mode'],
  ] as const) {
    const response = await inject({ method: 'POST', url, payload: '{}' });
    t.equal(response.statusCode, 400, url);
    t.match(response.headers['content-type'], /problem\+json/);
    t.match(response.body, new RegExp(field), `${url} names ${field}`);
  }
  t.equal((await inject({ method: 'GET', url: '/v1/imports/imp_AAAAAAAAAAAAAAAA' })).statusCode, 404);
});

t.test('the netflix catalog imports with its mapping file in one request', async (t) => {
  if (!existsSync(NETFLIX)) {
    t.comment(`skipped: ${NETFLIX} is absent`);
    return;
  }
  const { inject, database } = await buildTestApp(t);
  const mapping = JSON.parse(
    await readFile(new URL('../../mappings/netflix.json', import.meta.url), 'utf8'),
  ) as Record<string, string>;
  const map = Object.entries(mapping)
    .map(([target, source]) => `${target}=${source}`)
    .join(',');
  const response = await inject({
    method: 'POST',
    url: `/v1/imports?kind=items&format=csv&wait=true&map=${encodeURIComponent(map)}`,
    payload: await readFile(NETFLIX),
    headers: { 'content-type': 'text/csv' },
  });
  t.equal(response.statusCode, 200, response.body);
  t.match(response.json().counts, { received: 8807, inserted: 8807, failed: 0, embedded: 8807 });
  const item = await inject({ method: 'GET', url: '/v1/items/s2' });
  t.match(item.json(), {
    type: 'series',
    title: 'Blood & Water',
    genres: ['International TV Shows', 'TV Dramas', 'TV Mysteries'],
    maturityRating: 'TV-MA',
    releaseDate: '2021',
    regions: ['South Africa'],
    attributes: { seasons: 2, dateAdded: '2021-09-24' },
  });
  t.match(item.json().credits[1], { name: 'Ama Qamata', role: 'actor' });
  const embeddings = await database.db
    .selectFrom('item_embeddings')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  t.equal(Number(embeddings.n), 8807);
});

t.test(
  'an id in several batches: the last record in the file wins, whatever runs batches in parallel',
  async (t) => {
    const { inject, database } = await buildTestApp(t, {
      env: { MARQUEE_IMPORT_BATCH_SIZE: '10', MARQUEE_API_JOB_CONCURRENCY: '4' },
    });
    const lines: string[] = [];
    for (let index = 0; index < 200; index++)
      lines.push(
        JSON.stringify(
          index % 25 === 0
            ? { id: 'twice', title: `Version ${index}` }
            : { id: `i${index}`, title: `Title ${index}`, genres: ['drama'] },
        ),
      );
    const response = await inject({
      method: 'POST',
      url: '/v1/imports?kind=items&format=ndjson&wait=true',
      headers: { 'content-type': 'application/x-ndjson' },
      payload: lines.join('\n'),
    });
    t.equal(response.statusCode, 200, response.body);
    t.match(response.json().counts, { received: 200, inserted: 193, updated: 7, failed: 0 });
    const row = await database.db
      .selectFrom('items')
      .select('title')
      .where('id', '=', 'twice')
      .executeTakeFirstOrThrow();
    t.equal(row.title, 'Version 175', 'the record on the last line holding the id');
  },
);
