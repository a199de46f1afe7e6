import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { type AddressInfo, connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { until } from '../helpers/wait.ts';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import type { ImportStatus } from '../../src/schemas/imports.schema.ts';
import { NETFLIX_CSV, netflixAbsent, netflixMapParameter } from '../helpers/netflix.ts';
import { buildTestApp, TEST_ADMIN_KEY } from '../helpers/test-app.ts';

// The netflix catalog alone takes about a minute in embedded mode on a busy 2-core machine.
t.setTimeout(300_000);

const ndjson = (records: unknown[]) => records.map((record) => JSON.stringify(record)).join('\n');
const NETFLIX = NETFLIX_CSV;

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

t.test(
  'the netflix catalog imports with its mapping file in one request',
  { skip: netflixAbsent },
  async (t) => {
    const { inject, database } = await buildTestApp(t);
    const map = await netflixMapParameter();
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
      // ISO 3166 codes: mappings/netflix.json maps country names with its :country transform.
      regions: ['ZA'],
      attributes: { seasons: 2, dateAdded: '2021-09-24' },
    });
    t.match(item.json().credits[1], { name: 'Ama Qamata', role: 'actor' });
    const embeddings = await database.db
      .selectFrom('item_embeddings')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    t.equal(Number(embeddings.n), 8807);

    // Issue 17: the README's partial mapping after the full import updates what it maps and blanks nothing.
    const before = (await inject({ method: 'GET', url: '/v1/items/s2' })).json();
    const partial = await inject({
      method: 'POST',
      url: `/v1/imports?kind=items&format=csv&wait=true&map=${encodeURIComponent('id=show_id,title=title,genres=listed_in:split(",")')}`,
      payload: await readFile(NETFLIX),
      headers: { 'content-type': 'text/csv' },
    });
    t.equal(partial.statusCode, 200, partial.body);
    t.match(partial.json().counts, { received: 8807, inserted: 0, updated: 0, unchanged: 8807, failed: 0 });
    const after = (await inject({ method: 'GET', url: '/v1/items/s2' })).json();
    t.same({ ...after, updatedAt: undefined }, { ...before, updatedAt: undefined }, 'every field is kept');
    const described = await database.db
      .selectFrom('items')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('description', 'is not', null)
      .executeTakeFirstOrThrow();
    t.equal(Number(described.n), 8807, 'no description was blanked');
  },
);

t.test('upsert writes the fields a record holds; replace writes whole records; null clears', async (t) => {
  const { inject } = await buildTestApp(t);
  const put = (id: string, body: unknown) =>
    inject({
      method: 'PUT',
      url: `/v1/items/${id}`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });
  await put('m1', {
    title: 'Alien',
    description: 'In space.',
    genres: ['Horror'],
    attributes: { studio: 'Fox', a: 1 },
  });
  await put('m2', { title: 'Heat', description: 'A heist.', maturityRating: 'R' });
  const load = async (query: string, lines: unknown[]) =>
    (
      await inject({
        method: 'POST',
        url: `/v1/imports?kind=items&wait=true${query}`,
        payload: lines.map((line) => JSON.stringify(line)).join('\n'),
        headers: { 'content-type': 'application/x-ndjson' },
      })
    ).json<ImportStatus>();
  const merged = await load('', [
    { id: 'm1', genres: ['Horror', 'Sci-Fi'], attributes: { a: null, b: 2 } },
    { id: 'm2', description: null },
    { id: 'm3', genres: ['Drama'] },
    { id: 'm4', title: 'New' },
  ]);
  t.match(merged.counts, { received: 4, inserted: 1, updated: 2, failed: 1 });
  t.match(merged.errors, [{ line: 3, id: 'm3', reason: /title/ }], 'a new item still needs its title');
  const m1 = (await inject({ method: 'GET', url: '/v1/items/m1' })).json();
  t.match(m1, {
    title: 'Alien',
    description: 'In space.',
    genres: ['Horror', 'Sci-Fi'],
    attributes: { studio: 'Fox', b: 2 },
  });
  t.notOk('a' in m1.attributes, 'a null removes an attribute');
  const m2 = (await inject({ method: 'GET', url: '/v1/items/m2' })).json();
  t.match(m2, { title: 'Heat', maturityRating: 'R' });
  t.notOk('description' in m2, 'a null clears a field');

  const replaced = await load('&mode=replace', [{ id: 'm1', title: 'Alien (1979)' }]);
  t.match(replaced.counts, { updated: 1 });
  const whole = (await inject({ method: 'GET', url: '/v1/items/m1' })).json();
  t.match(whole, { title: 'Alien (1979)', genres: [], attributes: {} });
  t.notOk('description' in whole, 'replace writes the whole record: what it lacks is cleared');

  const refused = await inject({
    method: 'POST',
    url: '/v1/imports?kind=events&mode=replace&maxDeletePercent=5',
    payload: '{}',
  });
  t.equal(refused.statusCode, 400);
  t.same(
    refused.json().errors.map((error: { path: string }) => error.path),
    ['query.mode', 'query.maxDeletePercent'],
    'options are checked together, each named',
  );
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

// Issue 16: imports are bounded while they stream, refuse what Postgres cannot store line by line, and end.

const MiB = 1024 * 1024;

/** A raw HTTP request to a listening app whose body is written by hand (and can be cut off). */
async function rawImport(app: FastifyInstance, query: string, headers: Record<string, string>) {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const head = Object.entries({ host: 'localhost', authorization: `Bearer ${TEST_ADMIN_KEY}`, ...headers })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.write(`POST /v1/imports?${query} HTTP/1.1\r\n${head}\r\n`);
  return socket;
}

const importsOf = (app: FastifyInstance) => app.db.selectFrom('imports').selectAll().execute();

t.test(
  'a 1 MB gzip of 1 GiB of "A" with no newline is one rejected line; the lines around it go in',
  async (t) => {
    const { inject } = await buildTestApp(t);
    // Concatenated gzip members, as gunzip reads them: 1 GiB decompressed, about 1 MB sent.
    const member = gzipSync(Buffer.alloc(MiB, 'A'), { level: 9 });
    const payload = Buffer.concat([
      gzipSync('{"id": "before", "title": "Before"}\n'),
      ...Array.from({ length: 1024 }, () => member),
      gzipSync('\n{"id": "after", "title": "After"}\n'),
    ]);
    const response = await inject({
      method: 'POST',
      url: '/v1/imports?kind=items&format=ndjson&wait=true',
      headers: { 'content-type': 'application/gzip' },
      payload,
    });
    t.equal(response.statusCode, 200, response.body.slice(0, 500));
    t.match(response.json(), {
      status: 'completed',
      counts: { received: 3, inserted: 2, failed: 1 },
      errors: [{ line: 2, reason: 'longer than 1048576 bytes (MARQUEE_IMPORT_MAX_RECORD_BYTES)' }],
    });
  },
);

t.test(
  'past MARQUEE_IMPORT_MAX_BYTES the import stops: 413 naming the setting, earlier batches kept',
  async (t) => {
    const { inject, database } = await buildTestApp(t, {
      env: { MARQUEE_IMPORT_MAX_BYTES: '4096', MARQUEE_IMPORT_BATCH_SIZE: '10' },
    });
    const lines = Array.from({ length: 300 }, (_, index) =>
      JSON.stringify({ id: `i${index}`, title: `T${index}` }),
    );
    const text = lines.join('\n');
    const response = await inject({
      method: 'POST',
      url: '/v1/imports?kind=items&format=ndjson',
      headers: { 'content-type': 'application/x-ndjson' },
      payload: gzipSync(text),
    });
    t.equal(response.statusCode, 413, response.body);
    t.match(response.headers['content-type'], /^application\/problem\+json/);
    const problem = response.json();
    t.match(problem, {
      type: 'urn:marquee:problem:payload-too-large',
      status: 413,
      detail: /more than 4096 bytes once decompressed \(MARQUEE_IMPORT_MAX_BYTES\)/,
      importId: /^imp_/,
      statusUrl: `/v1/imports/${problem.importId}`,
    });
    // The lines that ended within the limit went into batches of 10; those batches are kept.
    const linesRead = text.slice(0, 4096).split('\n').length - 1;
    const kept = Math.floor(linesRead / 10) * 10;
    const status = await until(async () => {
      const current = (await inject({ method: 'GET', url: problem.statusUrl })).json<ImportStatus>();
      return current.counts.inserted === kept ? current : undefined;
    }, `${kept} records inserted`);
    t.match(status, {
      status: 'failed',
      failure: /^larger than MARQUEE_IMPORT_MAX_BYTES \(4096 bytes once decompressed\)/,
      counts: { received: linesRead },
    });
    const items = await database.db
      .selectFrom('items')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    t.equal(Number(items.n), kept);
  },
);

t.test('NUL characters and lone surrogates reject their line only, never the batch', async (t) => {
  const { inject, database } = await buildTestApp(t);
  const good = (id: string) => JSON.stringify({ id, title: `Title ${id}` });
  const lines = [
    good('first'),
    '{"id": "n1", "title": "raw \u0000 inside a string"}',
    '{"id": "n2",\u0000 "title": "raw between fields"}',
    '{"id": "n3", "title": "escaped \\u0000 NUL"}',
    '{"id": "n\\u00004", "title": "NUL in the id"}',
    '{"id": "n5", "title": "T", "attributes": {"k": "lone \\ud800 surrogate"}}',
    '{"id": "n6", "title": "T", "attributes": {"\\udc00\\u0000": "in a key"}}',
    good('last'),
  ];
  const response = await inject({
    method: 'POST',
    url: '/v1/imports?kind=items&format=ndjson&wait=true',
    headers: { 'content-type': 'application/x-ndjson' },
    payload: lines.join('\n'),
  });
  t.equal(response.statusCode, 200, response.body);
  const status = response.json();
  t.match(status, {
    status: 'completed',
    importId: /^imp_/,
    counts: { received: 8, inserted: 2, failed: 6 },
  });
  t.same(
    status.errors.map((error: { line: number }) => error.line),
    [2, 3, 4, 5, 6, 7],
  );
  t.match(status.errors[2].reason, /NUL/);
  t.match(status.errors[4].reason, /attributes\.k: .*lone surrogate/);
  for (const error of status.errors as { id?: string; reason: string }[])
    for (const text of [error.id ?? '', error.reason])
      t.ok(!text.includes('\u0000') && text.isWellFormed(), `stored and shown as valid text: ${text}`);
  const ids = await database.db.selectFrom('items').select('id').orderBy('id').execute();
  t.same(
    ids.map((row) => row.id),
    ['first', 'last'],
  );

  const csv = await inject({
    method: 'POST',
    url: '/v1/imports?kind=items&format=csv&wait=true',
    headers: { 'content-type': 'text/csv' },
    payload: Buffer.concat([
      Buffer.from('id,title\nc1,One\nc2,Tw'),
      Buffer.from([0]),
      Buffer.from('o\nc3,Three\n'),
    ]),
  });
  t.equal(csv.statusCode, 200, csv.body);
  t.match(csv.json(), {
    status: 'completed',
    counts: { received: 3, inserted: 2, failed: 1 },
    errors: [{ line: 3, id: 'c2', reason: /title: contains a NUL character/ }],
  });
});

t.test('a CSV header naming __proto__ fails the import, naming the column', async (t) => {
  const { inject } = await buildTestApp(t);
  const response = await inject({
    method: 'POST',
    url: '/v1/imports?kind=items&format=csv&wait=true',
    headers: { 'content-type': 'text/csv' },
    payload: 'id,title,__proto__\na,A,x\n',
  });
  t.equal(response.statusCode, 200, response.body);
  t.match(response.json(), {
    status: 'failed',
    failure:
      'reading the source failed: the CSV header names a column "__proto__" (column 3), which is not allowed',
  });
  t.same(Object.getPrototypeOf({}), Object.prototype);
});

t.test(
  'records over MARQUEE_IMPORT_MAX_RECORD_BYTES: a JSON element is rejected, a CSV row stops the import',
  async (t) => {
    const { inject } = await buildTestApp(t, { env: { MARQUEE_IMPORT_MAX_RECORD_BYTES: '1024' } });
    const json = await inject({
      method: 'POST',
      url: '/v1/imports?kind=items&format=json&wait=true',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify([
        { id: 'a', title: 'A' },
        { id: 'big', title: 'x'.repeat(5_000) },
        { id: 'b', title: 'B' },
      ]),
    });
    t.match(json.json(), {
      status: 'completed',
      counts: { received: 3, inserted: 2, failed: 1 },
      errors: [{ line: 2, reason: 'longer than 1024 bytes (MARQUEE_IMPORT_MAX_RECORD_BYTES)' }],
    });
    const csv = await inject({
      method: 'POST',
      url: '/v1/imports?kind=items&format=csv&wait=true',
      headers: { 'content-type': 'text/csv' },
      payload: `id,title\na,A\nbig,${'y'.repeat(5_000)}\nb,B\n`,
    });
    t.match(csv.json(), {
      status: 'failed',
      failure:
        'reading the source failed: line 3: a CSV row longer than 1024 bytes (MARQUEE_IMPORT_MAX_RECORD_BYTES); ' +
        'reading stopped there',
      counts: { received: 1 },
    });
  },
);

t.test('a client that hangs up mid-upload fails its import at once', async (t) => {
  const { app } = await buildTestApp(t);
  const socket = await rawImport(app, 'kind=items&format=ndjson', {
    'content-type': 'application/x-ndjson',
    'content-length': String(10 * MiB),
  });
  const lines = Array.from({ length: 1_200 }, (_, index) =>
    JSON.stringify({ id: `i${index}`, title: `T${index}` }),
  );
  socket.write(`${lines.join('\n')}\n{"id": "cut`);
  // Two batches of 500 handed over: the reader has recorded 1,000 records read.
  await until(async () => ((await importsOf(app))[0]?.received === 1_000 ? true : undefined), 'two batches');
  const hungUpAt = Date.now();
  socket.destroy();
  const failed = await until(
    async () => {
      const rows = await importsOf(app);
      return rows[0]?.status === 'failed' ? rows[0] : undefined;
    },
    'the import to fail',
    10_000,
  );
  t.match(failed.failure, /^the upload stopped before the end \(the connection closed after \d+ bytes\)$/);
  t.ok(Date.now() - hungUpAt < 5_000, `failed ${Date.now() - hungUpAt} ms after the client hung up`);
  // The batches handed over before the cut still complete (batches of 500: two of them).
  const count = await until(async () => {
    const row = await app.db
      .selectFrom('items')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n) >= 1_000 ? Number(row.n) : undefined;
  }, 'the batches before the cut');
  t.equal(count, 1_000);
});

t.test('a client that goes silent mid-upload is cut off after MARQUEE_IMPORT_STALL_SECONDS', async (t) => {
  const { app } = await buildTestApp(t, { env: { MARQUEE_IMPORT_STALL_SECONDS: '5' } });
  const socket = await rawImport(app, 'kind=items&format=ndjson', {
    'content-type': 'application/x-ndjson',
    'transfer-encoding': 'chunked',
  });
  t.teardown(() => socket.destroy());
  const body = '{"id": "a", "title": "A"}\n{"id": "b", "title": "B"}\n{"id": "c"';
  socket.write(`${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`);
  await until(async () => ((await importsOf(app))[0] ? true : undefined), 'the import to start');
  const started = Date.now();
  const failed = await until(
    async () => {
      const rows = await importsOf(app);
      return rows[0]?.status === 'failed' ? rows[0] : undefined;
    },
    'the silent upload to be cut off',
    20_000,
  );
  t.equal(failed.failure, 'the upload stopped: no data arrived for 5 s (MARQUEE_IMPORT_STALL_SECONDS)');
  t.ok(Date.now() - started < 12_000, `cut off after ${Date.now() - started} ms`);
  t.equal(failed.received, 2);
});
