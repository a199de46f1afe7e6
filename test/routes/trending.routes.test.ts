import t from 'tap';
import { buildTestApp, json, type TestApp } from '../helpers/test-app.ts';
import { insertItemStats } from '../helpers/recommendation-data.ts';

const catalog = {
  alpha: { type: 'movie', title: 'Alpha', genres: ['drama'], maturityRating: 'PG-13' },
  bravo: { type: 'movie', title: 'Bravo', genres: ['horror'], maturityRating: 'R' },
  charlie: { type: 'series', title: 'Charlie', genres: ['drama', 'comedy'], maturityRating: 'TV-14' },
  delta: { type: 'movie', title: 'Delta', genres: ['comedy'], maturityRating: 'PG' },
  // Trending most of all, but no longer available: never shown.
  echo: {
    type: 'movie',
    title: 'Echo',
    genres: ['drama'],
    availableFrom: '2000-01-01T00:00:00Z',
    availableUntil: '2001-01-01T00:00:00Z',
  },
  // In the catalog, but nobody watched it.
  foxtrot: { type: 'movie', title: 'Foxtrot', genres: ['drama'] },
};

async function trendingApp(t: Parameters<typeof buildTestApp>[0]): Promise<TestApp> {
  const testApp = await buildTestApp(t);
  for (const [id, item] of Object.entries(catalog)) {
    const response = await testApp.inject({ method: 'PUT', url: `/v1/items/${id}`, ...json(item) });
    t.equal(response.statusCode, 201, response.body);
  }
  // Embedded in the background, then the catalog's version moves (which drops cached lists): before the test.
  await testApp.app.embedding.idle();
  await insertItemStats(testApp.database.db, [
    { itemId: 'alpha', users: 12, day: 1, week: 40, month: 90 },
    { itemId: 'bravo', users: 30, day: 0, week: 50, month: 60 },
    { itemId: 'charlie', users: 1, day: 7, week: 30, month: 70 },
    { itemId: 'delta', users: 8, day: 9, week: 20, month: 80 },
    { itemId: 'echo', users: 99, day: 99, week: 99, month: 99 },
  ]);
  return testApp;
}

const ids = (body: { items: { itemId: string }[] }) => body.items.map((entry) => entry.itemId);

t.test('each window ranks by its own trending score; reasons count the viewers', async (t) => {
  const { inject } = await trendingApp(t);
  const week = await inject({ method: 'GET', url: '/v1/trending' });
  t.equal(week.statusCode, 200, week.body);
  t.equal(week.json().window, 'week', 'week by default');
  t.same(
    ids(week.json()),
    ['bravo', 'alpha', 'charlie', 'delta'],
    'unavailable and untrending items left out',
  );
  t.same(week.json().items[0], {
    itemId: 'bravo',
    score: 1,
    item: week.json().items[0].item,
    reasons: [{ source: 'trending', detail: 'Trending this week: 30 viewers', evidenceItemIds: [] }],
  });
  t.match(week.json().items[0].item, { id: 'bravo', title: 'Bravo', type: 'movie' });
  t.equal(week.json().items[2].reasons[0].detail, 'Trending this week: 1 viewer');

  const day = await inject({ method: 'GET', url: '/v1/trending?window=day' });
  // Log scores (live statistics): every item with events has one; the one quiet today comes last.
  t.same(
    ids(day.json()),
    ['delta', 'charlie', 'alpha', 'bravo'],
    'an item with no activity today comes last',
  );
  t.equal(day.json().items[0].reasons[0].detail, 'Trending today: 8 viewers');
  const month = await inject({ method: 'GET', url: '/v1/trending?window=month&limit=2' });
  t.same(ids(month.json()), ['alpha', 'delta']);
  t.equal(month.json().items[1].reasons[0].detail, 'Trending this month: 8 viewers');
});

t.test('type, genre and the shared filters are obeyed', async (t) => {
  const { inject } = await trendingApp(t);
  const get = async (query: string) => {
    const response = await inject({ method: 'GET', url: `/v1/trending?${query}` });
    t.equal(response.statusCode, 200, `${query}: ${response.body}`);
    return ids(response.json());
  };
  t.same(await get('type=movie'), ['bravo', 'alpha', 'delta']);
  t.same(await get('type=series'), ['charlie']);
  t.same(await get('genre=drama'), ['alpha', 'charlie']);
  t.same(await get('genre=drama&genres=comedy,horror'), ['charlie'], 'genre and genres both hold');
  t.same(await get('excludeGenres=horror,comedy'), ['alpha']);
  t.same(await get('type=movie&maxMaturityRating=PG-13'), ['alpha', 'delta']);
  t.same(await get('availableNow=false&limit=1'), ['echo'], 'availableNow=false lets the past in');
});

t.test('answers are cached per normalised query until events are stored, with x-cache', async (t) => {
  const { inject, database } = await trendingApp(t);
  const first = await inject({ method: 'GET', url: '/v1/trending?type=movie,series&genres=drama,comedy' });
  t.equal(first.headers['x-cache'], 'miss');
  await database.db
    .updateTable('item_stats')
    .set({ trending_week: 1000 })
    .where('item_id', '=', 'delta')
    .execute();

  const same = await inject({
    method: 'GET',
    url: '/v1/trending?genres=comedy,drama&type=series,movie,movie&window=week&limit=20',
  });
  t.equal(same.headers['x-cache'], 'hit', 'the same question in another order and with defaults spelled out');
  t.same(same.json(), first.json(), 'the cached answer, not the new scores');
  t.same(ids(same.json()), ['alpha', 'charlie', 'delta']);

  const other = await inject({
    method: 'GET',
    url: '/v1/trending?type=movie,series&genres=drama,comedy&limit=3',
  });
  t.equal(other.headers['x-cache'], 'miss', 'another limit is another question');
  t.same(ids(other.json()), ['delta', 'alpha', 'charlie'], 'and sees the new scores');

  // Stored events make every cached list stale at once (here the direct update above shows up too).
  const posted = await inject({
    method: 'POST',
    url: '/v1/events',
    ...json({ events: [{ userId: 'someone', itemId: 'charlie', type: 'play' }] }),
  });
  t.equal(posted.json().accepted, 1, posted.body);
  const after = await inject({ method: 'GET', url: '/v1/trending?type=movie,series&genres=drama,comedy' });
  t.equal(after.headers['x-cache'], 'miss', 'an event: the list is made again');
  t.equal(ids(after.json())[0], 'delta', 'from the statistics as they are now');
});

t.test('bad queries are 400 problems naming the parameter; a user token may read it', async (t) => {
  const { inject } = await trendingApp(t);
  for (const [query, field] of [
    ['window=year', 'query.window'],
    ['limit=0', 'query.limit'],
    ['limit=101', 'query.limit'],
    ['maxMaturityRating=XYZ', 'query.maxMaturityRating'],
    ['type=Movie', 'query.type'],
    ['yearFrom=2020&yearTo=2010', 'query.yearTo'],
    ['attributes=nope', 'query.attributes'],
    ['colour=red', 'colour'],
  ] as const) {
    const response = await inject({ method: 'GET', url: `/v1/trending?${query}` });
    t.equal(response.statusCode, 400, `${query}: ${response.body}`);
    t.match(response.headers['content-type'], /problem\+json/);
    t.match(response.body, field, `${query} names ${field}`);
  }
  const token = (
    await inject({ method: 'POST', url: '/v1/admin/user-tokens', ...json({ userId: 'u1' }) })
  ).json().token as string;
  const allowed = await inject({
    method: 'GET',
    url: '/v1/trending?genre=drama',
    headers: { authorization: `Bearer ${token}` },
  });
  t.equal(allowed.statusCode, 200, 'trending is a catalog read: a browser may ask for it');
});
