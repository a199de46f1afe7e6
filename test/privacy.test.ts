import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger } from '../src/server.ts';
import { purgeExpiredEvents } from '../src/services/retention.service.ts';
import { buildTestApp, json, TEST_ADMIN_KEY } from './helpers/test-app.ts';

t.test('export returns the profile and every event of one user, and nothing of others', async (t) => {
  const { inject } = await buildTestApp(t);
  await inject({ method: 'PUT', url: '/v1/items/m1', ...json({ title: 'Alien' }) });
  await inject({ method: 'PUT', url: '/v1/users/alice', ...json({ attributes: { plan: 'premium' } }) });
  const events = [
    { userId: 'alice', itemId: 'm1', type: 'play', timestamp: '2024-01-01T00:00:00Z' },
    { userId: 'alice', itemId: 'm1', type: 'rate', value: 5, timestamp: '2024-01-02T00:00:00Z' },
    { userId: 'bob', itemId: 'm1', type: 'play' },
  ];
  await inject({ method: 'POST', url: '/v1/events', ...json({ events }) });
  const exported = await inject({ method: 'GET', url: '/v1/users/alice/export' });
  t.equal(exported.statusCode, 200);
  const body = exported.json();
  t.match(body.user, { id: 'alice', attributes: { plan: 'premium' } });
  t.same(
    body.events.map((event: { type: string; timestamp: string }) => [event.type, event.timestamp]),
    [
      ['play', '2024-01-01T00:00:00.000Z'],
      ['rate', '2024-01-02T00:00:00.000Z'],
    ],
    'every event, oldest first',
  );
  t.notMatch(exported.body, /bob/);
  await inject({ method: 'DELETE', url: '/v1/users/alice' });
  t.equal(
    (await inject({ method: 'GET', url: '/v1/users/alice/export' })).statusCode,
    404,
    'nothing left after erasure',
  );
});

t.test('retention deletes events older than the configured days, at start-up and on demand', async (t) => {
  const { app, inject } = await buildTestApp(t);
  await inject({ method: 'PUT', url: '/v1/items/m1', ...json({ title: 'Alien' }) });
  const day = 24 * 60 * 60 * 1000;
  const at = (daysAgo: number) => new Date(Date.now() - daysAgo * day).toISOString();
  await inject({
    method: 'POST',
    url: '/v1/events',
    ...json({
      events: [
        { id: 'old-1', userId: 'u1', itemId: 'm1', type: 'play', timestamp: at(400) },
        { id: 'old-2', userId: 'u1', itemId: 'm1', type: 'play', timestamp: at(31) },
        { id: 'recent', userId: 'u1', itemId: 'm1', type: 'play', timestamp: at(29) },
      ],
    }),
  });
  t.equal(await purgeExpiredEvents(app.db, 30), 2);
  const left = (await inject({ method: 'GET', url: '/v1/users/u1/events' })).json().events;
  t.same(
    left.map((event: { id: string }) => event.id),
    ['recent'],
  );
  t.equal(await purgeExpiredEvents(app.db, 30), 0, 'idempotent');

  const scheduled = await buildTestApp(t, { env: { MARQUEE_EVENT_RETENTION_DAYS: '7' } });
  await scheduled.inject({ method: 'PUT', url: '/v1/items/m1', ...json({ title: 'Alien' }) });
  await scheduled.inject({
    method: 'POST',
    url: '/v1/events',
    ...json({ events: [{ id: 'stale', userId: 'u1', itemId: 'm1', type: 'play', timestamp: at(8) }] }),
  });
  // The plugin purges when the app becomes ready; a restart of this app is what would run it again.
  t.equal(await purgeExpiredEvents(scheduled.app.db, 7), 1, 'older than 7 days goes');
});

t.test('logs never contain keys, tokens or user attributes', async (t) => {
  let captured = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      captured += chunk.toString();
      done();
    },
  });
  const { inject } = await buildTestApp(t, { logger: createLogger({ logLevel: 'trace' }, sink) });
  const attribute = 'very-private-attribute-7f3a';
  const created = (
    await inject({ method: 'POST', url: '/v1/admin/keys', ...json({ name: 'k', scopes: ['client'] }) })
  ).json();
  const token = (
    await inject({ method: 'POST', url: '/v1/admin/user-tokens', ...json({ userId: 'alice' }) })
  ).json().token as string;
  await inject({ method: 'PUT', url: '/v1/users/alice', ...json({ attributes: { secretNote: attribute } }) });
  await inject({
    method: 'GET',
    url: '/v1/users/alice',
    headers: { authorization: `Bearer ${created.key}`, cookie: 'session=abc123' },
  });
  await inject({ method: 'GET', url: '/v1/users/alice/export' });
  await inject({ method: 'GET', url: '/v1/items', headers: { authorization: `Bearer ${token}` } });
  await inject({
    method: 'GET',
    url: '/v1/items',
    headers: { authorization: `Bearer ${created.key.slice(0, -1)}x` },
  });
  await inject({
    method: 'PUT',
    url: '/v1/users/bob',
    ...json({ attributes: { secretNote: attribute }, extra: attribute }),
  });

  t.ok(captured.split('\n').length > 10, 'requests were logged');
  for (const [what, secret] of [
    ['the admin key', TEST_ADMIN_KEY],
    ['a created key', created.key],
    ['its secret part', created.key.slice(12)],
    ['a user token', token],
    ['a user attribute', attribute],
    ['a cookie', 'abc123'],
  ] as const) {
    t.notOk(captured.includes(secret), `no ${what} in the log`);
  }
});
