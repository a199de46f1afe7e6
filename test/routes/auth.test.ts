import { SignJWT } from 'jose';
import t from 'tap';
import { mintUserToken } from '../../src/services/user-tokens.service.ts';
import { createBootstrapAdminKey } from '../../src/services/api-keys.service.ts';
import { buildTestApp, json, openTestDatabase } from '../helpers/test-app.ts';

interface Operation {
  'x-marquee-scopes'?: string[];
  'x-marquee-user-token'?: string;
  security?: Record<string, string[]>[];
  requestBody?: unknown;
  description?: string;
}

// The health checks, and the explanation streams (EventSource sends no credentials: the unguessable URL is
// the secret).
const PUBLIC_OPERATIONS = ['GET /healthz', 'GET /readyz', 'GET /v1/explanations/{streamId}'];
// What a key of each scope is granted (a scope implies the public reads).
const GRANTS = { read: ['read'], client: ['client', 'read'], ingest: ['ingest', 'read'] } as const;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
/** A JSON body with these headers besides the content type. */
const jsonWith = (headers: Record<string, string>, body: unknown) => {
  const request = json(body);
  return { ...request, headers: { ...request.headers, ...headers } };
};

t.test(
  'every operation in the OpenAPI document is protected: 401 without or with wrong credentials, 403 with too little',
  async (t) => {
    const { app, inject } = await buildTestApp(t);
    const document = app.swagger() as unknown as { paths: Record<string, Record<string, Operation>> };
    const keys: Record<string, string> = {};
    for (const scope of ['read', 'client', 'ingest']) {
      const created = await inject({
        method: 'POST',
        url: '/v1/admin/keys',
        ...json({ name: scope, scopes: [scope] }),
      });
      t.equal(created.statusCode, 201);
      keys[scope] = created.json().key;
    }
    const token = (
      await inject({ method: 'POST', url: '/v1/admin/user-tokens', ...json({ userId: 'someone-else' }) })
    ).json().token as string;

    const publicSeen: string[] = [];
    let checked = 0;
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const name = `${method.toUpperCase()} ${path}`;
        const url = path.replace(/\{(\w+)\}/g, (_, param: string) =>
          param === 'keyId' ? 'mq_00000000' : 'x1',
        );
        const request = (headers: Record<string, string>) =>
          app.inject({
            method: method.toUpperCase() as 'GET',
            url,
            headers: { ...headers, ...(operation.requestBody ? { 'content-type': 'application/json' } : {}) },
            ...(operation.requestBody ? { payload: '{}' } : {}),
          });
        if (operation.security?.length === 0) {
          publicSeen.push(name);
          continue;
        }
        checked++;
        const anonymous = await request({});
        t.equal(anonymous.statusCode, 401, `${name}: no credentials`);
        t.match(anonymous.headers['content-type'], /problem\+json/, `${name}: problem+json`);
        t.equal(anonymous.headers['www-authenticate'], 'Bearer realm="marquee"');
        t.equal(
          (await request(bearer(`mq_00000000_${'A'.repeat(43)}`))).statusCode,
          401,
          `${name}: unknown key`,
        );
        t.equal((await request(bearer('not-a-token'))).statusCode, 401, `${name}: garbage token`);
        t.equal(
          (await request({ authorization: 'Basic dXNlcjpwYXNz' })).statusCode,
          401,
          `${name}: not a bearer`,
        );

        // The weakest credentials this operation must refuse: a key whose scopes grant none of those the
        // operation accepts, else a user token (of another user).
        const accepted = new Set(operation['x-marquee-scopes'] ?? []);
        t.ok(accepted.size > 0, `${name}: declares its scopes`);
        const refusedScope = (['read', 'client', 'ingest'] as const).find((scope) =>
          GRANTS[scope].every((granted) => !accepted.has(granted)),
        );
        // A catalog read refuses no credential at all: every key and user token may read the catalog.
        if (!refusedScope && operation['x-marquee-user-token'] === 'catalog') continue;
        const insufficient = refusedScope ? bearer(keys[refusedScope]!) : bearer(token);
        const forbidden = await request(insufficient);
        t.equal(forbidden.statusCode, 403, `${name}: insufficient credentials are refused`);
        t.equal(forbidden.json().type, 'urn:marquee:problem:forbidden');
      }
    }
    t.same(publicSeen.sort(), PUBLIC_OPERATIONS, 'only the health checks and explanation streams are public');
    t.ok(checked >= 13, `${checked} protected operations walked`);
    t.equal(
      (await app.inject({ method: 'GET', url: '/openapi.json' })).statusCode,
      200,
      '/openapi.json is public',
    );
    t.equal((await app.inject({ method: 'GET', url: '/docs/' })).statusCode, 200, '/docs is public');
  },
);

t.test(
  'scopes: read reads the catalog, ingest writes it, client posts events; none manages keys',
  async (t) => {
    const { inject } = await buildTestApp(t);
    const keyFor = async (scopes: string[]) =>
      (
        await inject({ method: 'POST', url: '/v1/admin/keys', ...json({ name: scopes.join('+'), scopes }) })
      ).json().key as string;
    const [read, ingest, client] = [
      await keyFor(['read']),
      await keyFor(['ingest']),
      await keyFor(['client']),
    ];
    const as = (key: string, options: Parameters<typeof inject>[0]) =>
      inject({ ...options, headers: { ...options.headers, ...bearer(key) } });

    t.equal(
      (await as(ingest, { method: 'PUT', url: '/v1/items/m1', ...json({ title: 'Alien' }) })).statusCode,
      201,
    );
    t.equal(
      (await as(read, { method: 'PUT', url: '/v1/items/m2', ...json({ title: 'No' }) })).statusCode,
      403,
    );
    t.equal((await as(read, { method: 'GET', url: '/v1/items/m1' })).statusCode, 200);
    t.equal(
      (await as(client, { method: 'GET', url: '/v1/items/m1' })).statusCode,
      200,
      'client implies read',
    );
    t.equal((await as(ingest, { method: 'GET', url: '/v1/items' })).statusCode, 200, 'ingest implies read');
    const events = { events: [{ userId: 'u1', itemId: 'm1', type: 'play' }] };
    t.equal((await as(client, { method: 'POST', url: '/v1/events', ...json(events) })).json().accepted, 1);
    t.equal((await as(read, { method: 'POST', url: '/v1/events', ...json(events) })).statusCode, 403);
    t.equal(
      (await as(client, { method: 'DELETE', url: '/v1/users/u1' })).statusCode,
      403,
      'erasure needs ingest',
    );
    for (const key of [read, ingest, client]) {
      t.equal((await as(key, { method: 'GET', url: '/v1/admin/keys' })).statusCode, 403);
    }
    t.equal(
      (await as(client, { method: 'POST', url: '/v1/admin/user-tokens', ...json({ userId: 'u1' }) }))
        .statusCode,
      201,
      'a client key mints user tokens',
    );
  },
);

t.test("a user token may post only its own user's events; it reads no other user's data", async (t) => {
  const { app, inject } = await buildTestApp(t);
  await inject({ method: 'PUT', url: '/v1/items/m1', ...json({ title: 'Alien' }) });
  const minted = await inject({
    method: 'POST',
    url: '/v1/admin/user-tokens',
    ...json({ userId: 'alice', expiresInSeconds: 600 }),
  });
  t.equal(minted.statusCode, 201);
  const { token, userId, expiresAt } = minted.json();
  t.equal(userId, 'alice');
  t.ok(Math.abs(Date.parse(expiresAt) - Date.now() - 600_000) < 5_000, 'expires in 10 minutes');
  const asAlice = (options: Parameters<typeof inject>[0]) =>
    app.inject({ ...options, headers: { ...options.headers, ...bearer(token) } });

  const own = await asAlice({
    method: 'POST',
    url: '/v1/events',
    ...json({ events: [{ userId: 'alice', itemId: 'm1', type: 'like' }] }),
  });
  t.same(own.json(), { accepted: 1, duplicates: 0, rejected: [] });
  const foreign = await asAlice({
    method: 'POST',
    url: '/v1/events',
    ...json({
      events: [
        { userId: 'alice', itemId: 'm1', type: 'play' },
        { userId: 'bob', itemId: 'm1', type: 'play' },
      ],
    }),
  });
  t.equal(foreign.statusCode, 403);
  t.match(foreign.json().detail, /body\.events\[1\]/);
  const bobsEvents = await inject({ method: 'GET', url: '/v1/users/bob/events' });
  t.equal(bobsEvents.statusCode, 404, 'nothing of the refused batch was stored');
  t.equal((await asAlice({ method: 'GET', url: '/v1/users/bob/events' })).statusCode, 403);
  t.equal(
    (await asAlice({ method: 'GET', url: '/v1/users/alice/events' })).statusCode,
    200,
    'its own events',
  );
  t.equal((await asAlice({ method: 'GET', url: '/v1/users/alice' })).statusCode, 403, 'not the profile');
  t.equal((await asAlice({ method: 'GET', url: '/v1/items/m1' })).statusCode, 200, 'the catalog');
  t.equal(
    (await asAlice({ method: 'POST', url: '/v1/admin/user-tokens', ...json({ userId: 'alice' }) }))
      .statusCode,
    403,
  );

  const tooLong = await inject({
    method: 'POST',
    url: '/v1/admin/user-tokens',
    ...json({ userId: 'alice', expiresInSeconds: 90_000 }),
  });
  t.equal(tooLong.statusCode, 400, 'at most 24 hours');

  const expired = await mintUserToken(await app.userTokens.secret(), 'alice', -10);
  const withExpired = await app.inject({
    method: 'POST',
    url: '/v1/events',
    ...jsonWith(bearer(expired.token), { events: [] }),
  });
  t.equal(withExpired.statusCode, 401, 'an expired token is refused');
  const forged = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('alice')
    .setIssuer('marquee')
    .setAudience('marquee:user')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode('another secret of thirty-two bytes!!'));
  t.equal(
    (
      await app.inject({
        method: 'POST',
        url: '/v1/events',
        ...jsonWith(bearer(forged), { events: [] }),
      })
    ).statusCode,
    401,
    'a forged token is refused',
  );
});

t.test(
  'keys are shown once, stored as hashes, listed without secrets, and stop working when revoked',
  async (t) => {
    const { app, inject } = await buildTestApp(t);
    const created = await inject({
      method: 'POST',
      url: '/v1/admin/keys',
      ...json({ name: 'frontend', scopes: ['client', 'client'] }),
    });
    t.equal(created.statusCode, 201);
    const { key, apiKey } = created.json();
    t.match(key, /^mq_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
    t.match(apiKey, {
      id: key.slice(0, 11),
      name: 'frontend',
      scopes: ['client'],
      lastUsedAt: null,
      revokedAt: null,
    });

    const stored = await app.db
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', apiKey.id)
      .executeTakeFirstOrThrow();
    t.not(stored.secret_hash, key);
    t.notOk(stored.secret_hash.includes(key.slice(12)), 'the secret is not stored');

    t.equal((await app.inject({ method: 'GET', url: '/v1/items', headers: bearer(key) })).statusCode, 200);
    const listed = (await inject({ method: 'GET', url: '/v1/admin/keys' })).json().keys;
    const entry = listed.find((candidate: { id: string }) => candidate.id === apiKey.id);
    t.ok(entry.lastUsedAt, 'last use recorded');
    t.notMatch(JSON.stringify(listed), key.slice(12), 'no secret in the list');

    t.equal((await inject({ method: 'DELETE', url: `/v1/admin/keys/${apiKey.id}` })).statusCode, 204);
    t.equal(
      (await app.inject({ method: 'GET', url: '/v1/items', headers: bearer(key) })).statusCode,
      401,
      'revoked',
    );
    t.equal((await inject({ method: 'DELETE', url: '/v1/admin/keys/mq_00000000' })).statusCode, 404);
    const after = (await inject({ method: 'GET', url: '/v1/admin/keys' })).json().keys;
    t.ok(after.find((candidate: { id: string }) => candidate.id === apiKey.id).revokedAt);

    const badScope = await inject({
      method: 'POST',
      url: '/v1/admin/keys',
      ...json({ name: 'x', scopes: ['root'] }),
    });
    t.equal(badScope.statusCode, 400);
    t.equal(badScope.json().errors[0].path, 'body.scopes[0]');
  },
);

t.test('the bootstrap admin key is made once, only when no key exists and none is configured', async (t) => {
  const database = await openTestDatabase(t);
  t.teardown(() => database.close());
  t.equal(await createBootstrapAdminKey(database.db, true), undefined, 'not with MARQUEE_ADMIN_KEY set');
  const key = await createBootstrapAdminKey(database.db, false);
  t.match(key, /^mq_/);
  t.equal(await createBootstrapAdminKey(database.db, false), undefined, 'never twice');
  const rows = await database.db.selectFrom('api_keys').select(['name', 'scopes']).execute();
  t.same(rows, [{ name: 'bootstrap admin', scopes: ['admin'] }]);
});
