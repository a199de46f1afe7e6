import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { buildTestApp, json, type TestApp } from '../helpers/test-app.ts';

interface Operation {
  security?: unknown[];
  requestBody?: unknown;
}

/** Every protected operation of the document, called without credentials: each must answer 401. */
async function expectEveryProtectedOperationRefused(t: Test, app: TestApp['app']) {
  const document = app.swagger() as unknown as { paths: Record<string, Record<string, Operation>> };
  let walked = 0;
  for (const [path, item] of Object.entries(document.paths))
    for (const [method, operation] of Object.entries(item)) {
      if (operation.security?.length === 0) continue;
      walked++;
      const response = await app.inject({
        method: method.toUpperCase() as 'GET',
        url: path.replace(/\{(\w+)\}/g, 'x1'),
        ...(operation.requestBody ? { headers: { 'content-type': 'application/json' }, payload: '{}' } : {}),
      });
      t.equal(response.statusCode, 401, `${method.toUpperCase()} ${path}: 401 without credentials`);
    }
  t.ok(walked >= 20, `${walked} protected operations walked`);
}

async function ingestKey(inject: TestApp['inject']): Promise<string> {
  const created = await inject({
    method: 'POST',
    url: '/v1/admin/keys',
    ...json({ name: 'importer', scopes: ['ingest'] }),
  });
  return created.json().key as string;
}

t.test(
  "issue 16's request: an ingest key's import mapping through __proto__ is refused; authentication holds",
  async (t) => {
    const { app, inject } = await buildTestApp(t);
    const key = await ingestKey(inject);
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const url = new URL(
      '/v1/imports?kind=items&format=ndjson&map=id%3Did%2Ctitle%3Dtitle%2C__proto__.public%3D%221%22',
      address,
    );
    // A few thousand lines, sent slowly: the answer must not wait for them.
    const answer = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      const upload = httpRequest(
        url,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
        },
        (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              type: String(response.headers['content-type']),
              body,
            }),
          );
        },
      );
      upload.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
      });
      void (async () => {
        for (let line = 0; line < 3_000 && !upload.destroyed; line++) {
          upload.write(`${JSON.stringify({ id: `m${line}`, title: `Title ${line}` })}\n`);
          if (line % 100 === 0) await sleep(5);
        }
        upload.end();
      })();
    });
    t.equal(answer.status, 400, answer.body);
    t.match(answer.type, /application\/problem\+json/);
    const problem = JSON.parse(answer.body) as { errors: { path: string; message: string }[] };
    t.equal(problem.errors[0]?.path, 'query.map', 'the problem names the field');
    t.match(problem.errors[0]?.message, /__proto__/);
    t.equal(({} as Record<string, unknown>).public, undefined, 'Object.prototype has no `public`');

    const csv = await inject({
      method: 'POST',
      url: `/v1/imports?kind=items&format=csv&map=${encodeURIComponent('id=id,title=title,attributes.__proto__.x=title')}`,
      headers: { 'content-type': 'text/csv', authorization: `Bearer ${key}` },
      payload: 'id,title\nm1,Alien\n',
    });
    t.equal(csv.statusCode, 400, 'the CSV form is refused too');
    t.equal(csv.json().errors[0].path, 'query.map');

    await expectEveryProtectedOperationRefused(t, app);
    for (const url of ['/v1/admin/keys', '/v1/users/alice/export']) {
      t.equal((await app.inject({ method: 'GET', url })).statusCode, 401, `GET ${url}`);
    }
    t.equal((await app.inject({ method: 'DELETE', url: '/v1/users/alice' })).statusCode, 401);
    t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'the process is alive');
  },
);

t.test(
  'no access decision reads an inherited property: a polluted Object.prototype opens nothing',
  async (t) => {
    const { app } = await buildTestApp(t);
    // What a pollution would add (non-enumerable here, so that the test itself cannot break other code).
    const pollution: Record<string, unknown> = {
      public: true,
      access: { public: true },
      userToken: 'own-user-param',
      scopes: ['admin'],
      kind: 'api-key',
      userId: 'x1',
    };
    for (const [name, value] of Object.entries(pollution))
      Object.defineProperty(Object.prototype, name, { value, configurable: true, writable: true });
    t.teardown(() => {
      for (const name of Object.keys(pollution)) Reflect.deleteProperty(Object.prototype, name);
    });
    await expectEveryProtectedOperationRefused(t, app);
  },
);

t.test('the process refuses any use of __proto__ (node --disable-proto=throw)', async (t) => {
  const target: Record<string, unknown> = {};
  t.throws(
    () => {
      target['__proto__'] = { polluted: true };
    },
    { code: 'ERR_PROTO_ACCESS' },
  );
  t.equal(({} as Record<string, unknown>).polluted, undefined);
});

t.test('failed authentications are limited per address, before any key lookup', async (t) => {
  const { app, inject } = await buildTestApp(t, { env: { MARQUEE_AUTH_FAILURES_PER_MINUTE: '5' } });
  const good = (
    await inject({ method: 'POST', url: '/v1/admin/keys', ...json({ name: 'k', scopes: ['read'] }) })
  ).json().key as string;
  const expired = await app.userTokens.mint('alice', -10);
  const call = (token: string, remoteAddress = '203.0.113.7') =>
    app.inject({
      method: 'GET',
      url: '/v1/items',
      remoteAddress,
      headers: { authorization: `Bearer ${token}` },
    });

  for (let attempt = 0; attempt < 3; attempt++)
    t.equal((await call(expired.token)).statusCode, 401, 'an expired genuine token is refused...');
  t.equal((await call(good)).statusCode, 200, '...but is not counted as a guess');

  const wrong = `${good.slice(0, -4)}AAAA`;
  const statuses: number[] = [];
  for (let attempt = 0; attempt < 8; attempt++) statuses.push((await call(wrong)).statusCode);
  t.same(statuses.slice(0, 5), [401, 401, 401, 401, 401], 'the first five wrong keys get 401');
  t.same(statuses.slice(5), [429, 429, 429], 'then 429');
  const limited = await call(good);
  t.equal(limited.statusCode, 429, 'even a good key is not looked up from that address this minute');
  t.match(limited.headers['content-type'], /problem\+json/);
  t.ok(Number(limited.headers['retry-after']) >= 1, 'with Retry-After');
  t.equal(limited.json().type, 'urn:marquee:problem:rate-limited');
  t.equal((await call(good, '198.51.100.9')).statusCode, 200, 'another address is unaffected');
  t.equal(
    (await app.inject({ method: 'GET', url: '/v1/items', remoteAddress: '203.0.113.7' })).statusCode,
    401,
    'no credentials: 401 (not counted, not limited)',
  );
});

t.test('a refused key is remembered: guessing it again costs no database lookup', async (t) => {
  const { app, inject } = await buildTestApp(t);
  const good = (
    await inject({ method: 'POST', url: '/v1/admin/keys', ...json({ name: 'k', scopes: ['read'] }) })
  ).json().key as string;
  let lookups = 0;
  const counting = app.db.withPlugin({
    transformQuery: (args) => {
      lookups++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  });
  const { ApiKeyVerifier } = await import('../../src/services/api-keys.service.ts');
  const verifier = new ApiKeyVerifier(counting);
  const wrong = `${good.slice(0, -4)}AAAA`;
  t.equal(await verifier.verify(wrong), undefined);
  t.equal(lookups, 1, 'the first guess is looked up');
  for (let attempt = 0; attempt < 5; attempt++) t.equal(await verifier.verify(wrong), undefined);
  t.equal(lookups, 1, 'the same guess again is answered from memory');
  t.ok(await verifier.verify(good), 'the good key still works');
});
