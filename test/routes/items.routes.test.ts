import t from 'tap';
import { buildTestApp, json } from '../helpers/test-app.ts';

const martian = {
  type: 'movie',
  title: 'The Martian',
  description: 'An astronaut stranded on Mars.',
  genres: ['science fiction', 'drama'],
  tags: ['space', 'survival'],
  credits: [
    { name: 'Matt Damon', role: 'actor' },
    { name: 'Ridley Scott', role: 'director' },
  ],
  language: 'en',
  releaseDate: '2015-10-02',
  durationSeconds: 8460,
  maturityRating: 'PG-13',
  regions: ['US', 'GB'],
  availableFrom: '2020-01-01T00:00:00.000Z',
  availableUntil: '2030-01-01T00:00:00.000Z',
  imageUrl: 'https://images.example.com/the-martian.jpg',
  url: 'https://watch.example.com/the-martian',
  seriesId: 'none-1',
  attributes: { studio: 'Fox', awards: { oscars: 0, nominations: 7 } },
};

t.test(
  'PUT creates an item (201), GET returns it field for field, PUT again replaces it (200)',
  async (t) => {
    const { inject } = await buildTestApp(t);
    const created = await inject({ method: 'PUT', url: '/v1/items/movie-42', ...json(martian) });
    t.equal(created.statusCode, 201);
    const body = created.json();
    t.match(body, { id: 'movie-42', ...martian });
    t.ok(Date.parse(body.createdAt) > 0, 'createdAt is a timestamp');

    const fetched = await inject({ method: 'GET', url: '/v1/items/movie-42' });
    t.equal(fetched.statusCode, 200);
    const { createdAt, updatedAt, ...stored } = fetched.json();
    t.same(stored, { id: 'movie-42', ...martian }, 'what was PUT comes back equal');
    t.equal(createdAt, body.createdAt);

    const replaced = await inject({
      method: 'PUT',
      url: '/v1/items/movie-42',
      ...json({ title: 'The Martian (Extended)', genres: ['drama'] }),
    });
    t.equal(replaced.statusCode, 200);
    const after = replaced.json();
    t.equal(after.title, 'The Martian (Extended)');
    t.same(after.genres, ['drama']);
    t.equal(after.type, 'item', 'type falls back to "item" when left out');
    t.notOk('description' in after, 'fields left out of a replacement are cleared');
    t.same(after.attributes, {});
    t.equal(after.createdAt, createdAt, 'createdAt survives a replacement');
    t.ok(Date.parse(after.updatedAt) >= Date.parse(updatedAt));
  },
);

t.test(
  'PUT normalises what it stores: trims text, removes repeated genres, keeps instants in UTC',
  async (t) => {
    const { inject } = await buildTestApp(t);
    const response = await inject({
      method: 'PUT',
      url: '/v1/items/m1',
      ...json({
        title: '  Alien  ',
        genres: ['horror', 'horror', 'sci-fi'],
        availableFrom: '2020-01-01T02:00:00+02:00',
      }),
    });
    t.equal(response.statusCode, 201);
    t.equal(response.json().title, 'Alien');
    t.same(response.json().genres, ['horror', 'sci-fi']);
    t.equal(response.json().availableFrom, '2020-01-01T00:00:00.000Z');
  },
);

t.test('PUT with an id in the body that differs from the path is refused and stores nothing', async (t) => {
  const { inject } = await buildTestApp(t);
  const response = await inject({ method: 'PUT', url: '/v1/items/a', ...json({ id: 'b', title: 'x' }) });
  t.equal(response.statusCode, 400);
  t.equal(response.json().errors[0].path, 'body.id');
  t.equal((await inject({ method: 'GET', url: '/v1/items/a' })).statusCode, 404);
  t.equal((await inject({ method: 'GET', url: '/v1/items/b' })).statusCode, 404);
});

t.test('PATCH merges: replaces given fields, null clears, attributes merge key by key', async (t) => {
  const { inject } = await buildTestApp(t);
  await inject({ method: 'PUT', url: '/v1/items/movie-42', ...json(martian) });
  const patched = await inject({
    method: 'PATCH',
    url: '/v1/items/movie-42',
    headers: { 'content-type': 'application/merge-patch+json' },
    payload: JSON.stringify({
      tags: ['space', 'botany'],
      maturityRating: null,
      attributes: { studio: null, awards: { oscars: 1 }, budget: 108 },
    }),
  });
  t.equal(patched.statusCode, 200);
  const item = patched.json();
  t.same(item.tags, ['space', 'botany']);
  t.notOk('maturityRating' in item, 'null removed the field');
  t.same(item.attributes, { awards: { oscars: 1, nominations: 7 }, budget: 108 });
  t.equal(item.title, martian.title, 'untouched fields stay');
  t.same(item.credits, martian.credits);

  const stored = (await inject({ method: 'GET', url: '/v1/items/movie-42' })).json();
  t.same(stored.attributes, item.attributes, 'the merge was stored');
});

t.test('PATCH checks the merged item like a full one and leaves it unchanged when invalid', async (t) => {
  const { inject } = await buildTestApp(t);
  await inject({ method: 'PUT', url: '/v1/items/movie-42', ...json(martian) });
  const before = (await inject({ method: 'GET', url: '/v1/items/movie-42' })).json();

  const windowBackwards = await inject({
    method: 'PATCH',
    url: '/v1/items/movie-42',
    ...json({ availableUntil: '2019-01-01T00:00:00Z' }),
  });
  t.equal(windowBackwards.statusCode, 400);
  t.equal(windowBackwards.json().errors[0].path, 'body.availableUntil');

  const titleCleared = await inject({
    method: 'PATCH',
    url: '/v1/items/movie-42',
    ...json({ title: null }),
  });
  t.equal(titleCleared.statusCode, 400);

  const after = (await inject({ method: 'GET', url: '/v1/items/movie-42' })).json();
  t.same(after, before, 'nothing changed');

  const missing = await inject({ method: 'PATCH', url: '/v1/items/nope', ...json({ title: 'x' }) });
  t.equal(missing.statusCode, 404);
  t.equal(missing.headers['content-type'], 'application/problem+json; charset=utf-8');
});

t.test('DELETE removes an item (204), is idempotent, and keeps its events as history', async (t) => {
  const { inject } = await buildTestApp(t);
  await inject({ method: 'PUT', url: '/v1/items/ep-1', ...json({ title: 'Pilot', type: 'episode' }) });
  const posted = await inject({
    method: 'POST',
    url: '/v1/events',
    ...json({ events: [{ userId: 'u1', itemId: 'ep-1', type: 'complete' }] }),
  });
  t.equal(posted.json().accepted, 1);

  const deleted = await inject({ method: 'DELETE', url: '/v1/items/ep-1' });
  t.equal(deleted.statusCode, 204);
  t.equal(deleted.body, '');
  t.equal((await inject({ method: 'GET', url: '/v1/items/ep-1' })).statusCode, 404);
  t.equal((await inject({ method: 'DELETE', url: '/v1/items/ep-1' })).statusCode, 204, 'idempotent');

  const history = (await inject({ method: 'GET', url: '/v1/users/u1/events' })).json();
  t.same(
    history.events.map((event: { itemId: string }) => event.itemId),
    ['ep-1'],
    'the event stays',
  );
  const list = (await inject({ method: 'GET', url: '/v1/items' })).json();
  t.same(list.items, [], 'a deleted item is not listed');
});

t.test('GET /v1/items pages through the catalog with a cursor and filters', async (t) => {
  const { inject } = await buildTestApp(t);
  for (let index = 0; index < 7; index++) {
    const id = `item-${String(index).padStart(2, '0')}`;
    await inject({
      method: 'PUT',
      url: `/v1/items/${id}`,
      ...json({
        title: `Title ${index}`,
        type: index % 2 ? 'series' : 'movie',
        genres: index < 3 ? ['comedy'] : ['drama'],
      }),
    });
  }

  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const url: string = `/v1/items?limit=3${cursor ? `&cursor=${cursor}` : ''}`;
    const page = (await inject({ method: 'GET', url })).json();
    seen.push(...page.items.map((item: { id: string }) => item.id));
    cursor = page.nextCursor;
    pages++;
  } while (cursor && pages < 10);
  t.same(seen, ['item-00', 'item-01', 'item-02', 'item-03', 'item-04', 'item-05', 'item-06']);
  t.equal(pages, 3);

  const movies = (await inject({ method: 'GET', url: '/v1/items?type=movie' })).json();
  t.same(
    movies.items.map((item: { id: string }) => item.id),
    ['item-00', 'item-02', 'item-04', 'item-06'],
  );
  t.equal(movies.nextCursor, null);

  const comedies = (await inject({ method: 'GET', url: '/v1/items?genre=comedy&type=series' })).json();
  t.same(
    comedies.items.map((item: { id: string }) => item.id),
    ['item-01'],
  );

  const future = (await inject({ method: 'GET', url: '/v1/items?updatedSince=2099-01-01T00:00:00Z' })).json();
  t.same(future.items, []);
  const past = (
    await inject({ method: 'GET', url: '/v1/items?updatedSince=2000-01-01T00:00:00Z&limit=500' })
  ).json();
  t.equal(past.items.length, 7);
});

t.test('an unknown item is a 404 problem naming it', async (t) => {
  const { inject } = await buildTestApp(t);
  const response = await inject({ method: 'GET', url: '/v1/items/does-not-exist' });
  t.equal(response.statusCode, 404);
  t.match(response.json(), {
    type: 'urn:marquee:problem:not-found',
    status: 404,
    detail: /does-not-exist/,
    instance: '/v1/items/does-not-exist',
  });
});
