import { pino } from 'pino';
import t from 'tap';
import { buildApp } from '../../src/app.ts';
import { createRedisCache } from '../../src/cache/redis-cache.ts';
import { startBlackHoleServer } from '../helpers/black-hole-server.ts';
import {
  asAdmin,
  buildTestApp,
  json,
  openTestDatabase,
  redisUrl,
  servedMode,
  testConfig,
} from '../helpers/test-app.ts';

t.test('/healthz answers 200 and /readyz reports the database and cache', async (t) => {
  const { inject } = await buildTestApp(t);
  const live = await inject({ method: 'GET', url: '/healthz' });
  t.equal(live.statusCode, 200);
  t.same(live.json(), { status: 'ok' });
  t.ok(live.headers['x-request-id'], 'every answer carries a request id');

  const ready = await inject({ method: 'GET', url: '/readyz' });
  t.equal(ready.statusCode, 200);
  t.match(ready.json(), {
    status: 'ok',
    checks: {
      database: { status: 'ok', mode: servedMode ? 'postgres' : 'embedded', latencyMs: Number },
      cache: { status: 'ok', kind: redisUrl ? 'redis' : 'memory' },
    },
  });
});

t.test('a caller-supplied x-request-id is kept when it is sane', async (t) => {
  const { inject } = await buildTestApp(t);
  const kept = await inject({
    method: 'GET',
    url: '/healthz',
    headers: { 'x-request-id': 'gateway-123' },
  });
  t.equal(kept.headers['x-request-id'], 'gateway-123');
  const replaced = await inject({
    method: 'GET',
    url: '/healthz',
    headers: { 'x-request-id': 'bad id\u0001' },
  });
  t.not(replaced.headers['x-request-id'], 'bad id\u0001');
});

t.test(
  '/readyz answers 503 with Retry-After once the database is unreachable; requests get 503 problems',
  async (t) => {
    const { inject, database } = await buildTestApp(t);
    await database.close();
    const ready = await inject({ method: 'GET', url: '/readyz' });
    t.equal(ready.statusCode, 503);
    t.equal(ready.headers['retry-after'], '5');
    t.match(ready.json(), { status: 'unavailable', checks: { database: { status: 'unavailable' } } });
    const read = await inject({ method: 'GET', url: '/v1/items/anything' });
    t.equal(read.statusCode, 503, 'a read is answered 503, not 500');
    t.equal(read.headers['retry-after'], '5');
    t.equal(read.json().type, 'urn:marquee:problem:unavailable');
    t.match(read.headers['content-type'], /problem\+json/);
    t.notMatch(read.body, /select|from "items"/i, 'no SQL in the answer');
  },
);

t.test(
  'a hung Redis degrades to no cache within its time-out: requests succeed, /readyz says degraded',
  async (t) => {
    const blackHole = await startBlackHoleServer();
    t.teardown(blackHole.close);
    const config = testConfig();
    const database = await openTestDatabase(t, config);
    const cache = createRedisCache({
      url: blackHole.url,
      keyPrefix: 'test:',
      logger: pino({ level: 'silent' }),
    });
    const app = await buildApp({ config, database, cache });
    t.teardown(() => app.close());

    const started = performance.now();
    t.equal(await cache.get('anything'), undefined, 'a cache miss, not an error');
    await cache.set('anything', { a: 1 }, 10);
    await cache.deleteByPrefix('user:x:');
    const elapsed = performance.now() - started;
    t.ok(
      elapsed < 1_500,
      `three cache calls gave up quickly (${Math.round(elapsed)} ms), not after the 73 s default`,
    );

    const put = await app.inject(
      asAdmin({ method: 'PUT', url: '/v1/items/m1', ...json({ title: 'Alien' }) }),
    );
    t.equal(put.statusCode, 201);
    const erase = await app.inject(asAdmin({ method: 'DELETE', url: '/v1/users/u1' }));
    t.equal(erase.statusCode, 204, 'erasure still succeeds without the cache');
    const ready = await app.inject(asAdmin({ method: 'GET', url: '/readyz' }));
    t.equal(ready.statusCode, 200);
    t.match(ready.json(), { status: 'degraded', checks: { cache: { status: 'degraded', kind: 'redis' } } });
  },
);

t.test('a Redis that refuses connections also degrades: no error reaches the client', async (t) => {
  const config = testConfig();
  const database = await openTestDatabase(t, config);
  // Port 1 on loopback: nothing listens, connections are refused at once.
  const cache = createRedisCache({
    url: 'redis://127.0.0.1:1',
    keyPrefix: 'test:',
    logger: pino({ level: 'silent' }),
  });
  const app = await buildApp({ config, database, cache });
  t.teardown(() => app.close());
  t.equal(
    (await app.inject(asAdmin({ method: 'PUT', url: '/v1/items/m1', ...json({ title: 'Alien' }) })))
      .statusCode,
    201,
  );
  t.equal((await app.inject(asAdmin({ method: 'GET', url: '/v1/items/m1' }))).json().title, 'Alien');
  t.equal((await app.inject(asAdmin({ method: 'GET', url: '/readyz' }))).json().status, 'degraded');
});
