import t from 'tap';
import { buildApp } from '../../src/app.ts';
import { publicAccess } from '../../src/auth/access.ts';
import { createMemoryCache } from '../../src/cache/memory-cache.ts';
import { buildTestApp, json, openTestDatabase, testConfig } from '../helpers/test-app.ts';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

t.test('a key over its limit gets 429 problems while another key keeps its own budget', async (t) => {
  const { app, inject } = await buildTestApp(t, { env: { MARQUEE_RATE_LIMIT_READ: '3' } });
  const keyFor = async (name: string) =>
    (await inject({ method: 'POST', url: '/v1/admin/keys', ...json({ name, scopes: ['read'] }) })).json()
      .key as string;
  const first = await keyFor('first');
  const second = await keyFor('second');

  const statuses: number[] = [];
  let limited;
  for (let index = 0; index < 5; index++) {
    const response = await app.inject({ method: 'GET', url: '/v1/items', headers: bearer(first) });
    statuses.push(response.statusCode);
    if (response.statusCode === 429) limited = response;
  }
  t.same(statuses, [200, 200, 200, 429, 429]);
  t.ok(limited);
  t.match(limited?.headers['content-type'], /^application\/problem\+json/);
  t.match(limited?.json(), {
    type: 'urn:marquee:problem:rate-limited',
    status: 429,
    detail: /at most 3 a minute/,
  });
  t.ok(Number(limited?.headers['retry-after']) > 0, 'Retry-After');
  t.equal(limited?.headers['ratelimit-limit'], '3');
  t.equal(limited?.headers['ratelimit-remaining'], '0');

  const other = await app.inject({ method: 'GET', url: '/v1/items', headers: bearer(second) });
  t.equal(other.statusCode, 200, "another key's requests are unaffected");
  t.equal(other.headers['ratelimit-remaining'], '2');
  t.equal(
    (await app.inject({ method: 'GET', url: '/healthz' })).statusCode,
    200,
    'health checks are never limited',
  );
});

t.test('user tokens are limited per user, and calls without credentials per address', async (t) => {
  const { app, inject } = await buildTestApp(t, {
    env: { MARQUEE_RATE_LIMIT_USER: '2', MARQUEE_RATE_LIMIT_ANONYMOUS: '2' },
  });
  await inject({ method: 'PUT', url: '/v1/items/m1', ...json({ title: 'Alien' }) });
  const tokenFor = async (userId: string) =>
    (await inject({ method: 'POST', url: '/v1/admin/user-tokens', ...json({ userId }) })).json()
      .token as string;
  const alice = await tokenFor('alice');
  const bob = await tokenFor('bob');
  const post = (token: string, userId: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      payload: JSON.stringify({ events: [{ userId, itemId: 'm1', type: 'play' }] }),
    });
  t.same(
    [
      (await post(alice, 'alice')).statusCode,
      (await post(alice, 'alice')).statusCode,
      (await post(alice, 'alice')).statusCode,
    ],
    [200, 200, 429],
  );
  t.equal((await post(bob, 'bob')).statusCode, 200, 'another user is unaffected');

  const anonymous = [];
  for (let index = 0; index < 3; index++)
    anonymous.push((await app.inject({ method: 'GET', url: '/openapi.json' })).statusCode);
  t.same(anonymous, [200, 200, 429]);
});

t.test('behind a trusted proxy, calls without credentials are limited per forwarded client', async (t) => {
  const { app } = await buildTestApp(t, {
    env: { MARQUEE_RATE_LIMIT_ANONYMOUS: '2', MARQUEE_TRUST_PROXY: '127.0.0.1' },
  });
  const from = (client: string) =>
    app.inject({ method: 'GET', url: '/openapi.json', headers: { 'x-forwarded-for': client } });
  const first = [];
  for (let index = 0; index < 3; index++) first.push((await from('203.0.113.7')).statusCode);
  t.same(first, [200, 200, 429], 'one client behind the proxy is limited');
  t.equal((await from('198.51.100.9')).statusCode, 200, 'another client behind the same proxy is not');

  const { app: oneHop } = await buildTestApp(t, {
    env: { MARQUEE_RATE_LIMIT_ANONYMOUS: '1', MARQUEE_TRUST_PROXY: '1' },
  });
  const viaHop = (client: string) =>
    oneHop.inject({ method: 'GET', url: '/openapi.json', headers: { 'x-forwarded-for': client } });
  t.same(
    [
      (await viaHop('203.0.113.7')).statusCode,
      (await viaHop('203.0.113.7')).statusCode,
      (await viaHop('192.0.2.1')).statusCode,
    ],
    [200, 429, 200],
    'a hop count trusts the nearest proxy',
  );

  const { app: untrusting } = await buildTestApp(t, { env: { MARQUEE_RATE_LIMIT_ANONYMOUS: '2' } });
  const statuses = [];
  for (const client of ['203.0.113.7', '198.51.100.9', '192.0.2.1'])
    statuses.push(
      (
        await untrusting.inject({
          method: 'GET',
          url: '/openapi.json',
          headers: { 'x-forwarded-for': client },
        })
      ).statusCode,
    );
  t.same(statuses, [200, 200, 429], 'without MARQUEE_TRUST_PROXY the header is ignored (it could be forged)');
});

t.test('security headers on every answer; CORS only for the configured origins', async (t) => {
  const { app, inject } = await buildTestApp(t, { env: { MARQUEE_CORS_ORIGINS: 'https://app.example.com' } });
  const response = await inject({ method: 'GET', url: '/v1/items' });
  t.match(response.headers, {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'SAMEORIGIN',
    'referrer-policy': 'no-referrer',
    'strict-transport-security': /max-age=/,
  });
  const error = await app.inject({ method: 'GET', url: '/v1/items' });
  t.equal(error.headers['x-content-type-options'], 'nosniff', 'error answers too');

  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/v1/events',
    headers: {
      origin: 'https://app.example.com',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  });
  t.equal(preflight.statusCode, 204);
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com');
  t.match(preflight.headers['access-control-allow-headers'], /authorization/);

  const foreign = await app.inject({
    method: 'OPTIONS',
    url: '/v1/events',
    headers: { origin: 'https://evil.example.net', 'access-control-request-method': 'POST' },
  });
  t.notOk(foreign.headers['access-control-allow-origin'], 'no CORS grant for another origin');
  const simple = await inject({
    method: 'GET',
    url: '/v1/items',
    headers: { origin: 'https://evil.example.net' },
  });
  t.notOk(simple.headers['access-control-allow-origin']);
});

t.test('/metrics reports requests by route pattern and status, for admins only', async (t) => {
  const { app, inject } = await buildTestApp(t);
  await inject({ method: 'PUT', url: '/v1/items/secret-id-1', ...json({ title: 'A' }) });
  await inject({ method: 'GET', url: '/v1/items/secret-id-1' });
  await inject({ method: 'GET', url: '/v1/items/missing' });
  const metrics = await inject({ method: 'GET', url: '/metrics' });
  t.equal(metrics.statusCode, 200);
  t.match(metrics.headers['content-type'], /^text\/plain/);
  t.match(
    metrics.body,
    /marquee_http_request_duration_seconds_count\{method="GET",route="\/v1\/items\/:itemId",status="200"\} 1/,
  );
  t.match(
    metrics.body,
    /marquee_http_request_duration_seconds_count\{method="GET",route="\/v1\/items\/:itemId",status="404"\} 1/,
  );
  t.notMatch(metrics.body, /secret-id-1/, 'no ids in labels');
  t.match(metrics.body, /marquee_process_cpu_user_seconds_total/);
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
});

t.test('/metrics counts cache hits and misses of the app cache', async (t) => {
  const { app, inject } = await buildTestApp(t);
  await app.cache.set('page:1', { items: [] }, 60);
  await app.cache.get('page:1');
  await app.cache.get('page:1');
  await app.cache.get('page:2');
  const body = (await inject({ method: 'GET', url: '/metrics' })).body;
  t.match(body, /marquee_cache_operations_total\{operation="get",result="hit"\} 2/);
  t.match(body, /marquee_cache_operations_total\{operation="get",result="miss"\} 1/);
  t.match(body, /marquee_cache_operations_total\{operation="set",result="done"\} 1/);
});

t.test('a request that runs past MARQUEE_REQUEST_TIMEOUT_MS gets a 503 busy problem at once', async (t) => {
  const config = testConfig({ MARQUEE_REQUEST_TIMEOUT_MS: '100' });
  const app = await buildApp({
    config,
    database: await openTestDatabase(t, config),
    cache: createMemoryCache(),
  });
  t.teardown(() => app.close());
  let aborted = false;
  app.get('/slow', { config: { access: publicAccess } }, async (request) => {
    request.signal.addEventListener('abort', () => (aborted = true));
    await new Promise((resolve) => setTimeout(resolve, 400));
    return { done: true };
  });
  const started = performance.now();
  const response = await app.inject({ method: 'GET', url: '/slow' });
  t.equal(response.statusCode, 503);
  t.equal(response.json().type, 'urn:marquee:problem:busy', 'a slow answer is overload, not an outage');
  t.equal(response.headers['retry-after'], '1');
  t.match(response.json().detail, /took longer than this server allows/);
  t.ok(performance.now() - started < 350, 'answered before the handler finished');
  t.ok(aborted, 'the handler was told to stop (request.signal)');
});
