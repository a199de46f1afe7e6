import t from 'tap';
import { userCachePrefix } from '../../src/services/users.service.ts';
import { buildTestApp, json } from '../helpers/test-app.ts';

t.test('PUT creates (201) then replaces (200) a user; GET returns the attributes', async (t) => {
  const { inject } = await buildTestApp(t);
  const created = await inject({
    method: 'PUT',
    url: '/v1/users/user-7',
    ...json({ attributes: { plan: 'premium', country: 'FR' } }),
  });
  t.equal(created.statusCode, 201);
  t.same(created.json().attributes, { plan: 'premium', country: 'FR' });

  const replaced = await inject({
    method: 'PUT',
    url: '/v1/users/user-7',
    ...json({ attributes: { plan: 'free' } }),
  });
  t.equal(replaced.statusCode, 200);
  t.equal(replaced.json().createdAt, created.json().createdAt);

  const fetched = await inject({ method: 'GET', url: '/v1/users/user-7' });
  t.same(fetched.json().attributes, { plan: 'free' });
  t.equal((await inject({ method: 'GET', url: '/v1/users/nobody' })).statusCode, 404);
});

t.test('DELETE erases the profile, every event and every cached result of that user only', async (t) => {
  const { app, inject, cache } = await buildTestApp(t);
  await inject({ method: 'PUT', url: '/v1/items/m1', ...json({ title: 'Alien' }) });
  await inject({ method: 'PUT', url: '/v1/users/alice', ...json({ attributes: { plan: 'premium' } }) });
  const posted = await inject({
    method: 'POST',
    url: '/v1/events',
    ...json({
      events: [
        { userId: 'alice', itemId: 'm1', type: 'play' },
        { userId: 'alice', itemId: 'm1', type: 'like' },
        { userId: 'bob', itemId: 'm1', type: 'play' },
      ],
    }),
  });
  t.equal(posted.json().accepted, 3);
  await cache.set(`${userCachePrefix('alice')}recommendations:abc`, { items: ['m1'] }, 60);
  await cache.set(`${userCachePrefix('bob')}recommendations:abc`, { items: ['m1'] }, 60);

  const erased = await inject({ method: 'DELETE', url: '/v1/users/alice' });
  t.equal(erased.statusCode, 204);
  t.equal((await inject({ method: 'GET', url: '/v1/users/alice' })).statusCode, 404);
  t.equal((await inject({ method: 'GET', url: '/v1/users/alice/events' })).statusCode, 404);
  t.equal(
    await cache.get(`${userCachePrefix('alice')}recommendations:abc`),
    undefined,
    'cached results purged',
  );

  const events = await app.db.selectFrom('events').select(['user_id']).execute();
  t.same(
    events.map((event) => event.user_id),
    ['bob'],
    "no event of alice is left; bob's stays",
  );
  t.same(
    await cache.get(`${userCachePrefix('bob')}recommendations:abc`),
    { items: ['m1'] },
    "bob's cache stays",
  );

  t.equal((await inject({ method: 'DELETE', url: '/v1/users/alice' })).statusCode, 204, 'idempotent');
  t.equal((await inject({ method: 'DELETE', url: '/v1/users/never-existed' })).statusCode, 204);
});
