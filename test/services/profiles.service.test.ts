import t from 'tap';
import { findUserProfile } from '../../src/repositories/user-profiles.repository.ts';
import { PROFILE_EVENTS_PER_USER, refreshUserProfiles } from '../../src/services/profiles.service.ts';
import { buildTestApp, json, type TestApp } from '../helpers/test-app.ts';

// Two tastes the local embedder tells apart (cosine about 0.7 within each, 0.3 across), and one to dislike.
const CATALOG = [
  [
    'space-1',
    'Orbit',
    'science fiction',
    'Astronauts aboard a failing space station fight to return to Earth.',
  ],
  [
    'space-2',
    'Red Planet',
    'science fiction',
    'The first crew to land on Mars finds the rover tracks of someone else.',
  ],
  [
    'space-3',
    'Deep Field',
    'science fiction',
    'A starship pilot crosses the galaxy to reach a distant alien world.',
  ],
  [
    'space-4',
    'Launch Window',
    'science fiction',
    'A rocket engineer and her crew race to launch a mission to the moon.',
  ],
  ['food-1', 'Sourdough', 'cooking', 'A baker shares recipes for bread, pastry and cakes from her kitchen.'],
  [
    'food-2',
    'Street Kitchen',
    'cooking',
    'A chef travels to taste noodles, dumplings and spicy street food.',
  ],
  [
    'food-3',
    'The Pasta Course',
    'cooking',
    'Cooks learn to make fresh pasta, sauces and desserts in a restaurant kitchen.',
  ],
  [
    'food-4',
    'Sunday Roast',
    'cooking',
    'A family chef cooks roast dinners, soups and pies for the whole village.',
  ],
  ['fear-1', 'The Cellar', 'horror', 'Something in the cellar of an old house hunts the family at night.'],
] as const;

async function withCatalog(t: Parameters<typeof buildTestApp>[0]): Promise<TestApp> {
  const context = await buildTestApp(t);
  for (const [id, title, genre, description] of CATALOG) {
    const response = await context.inject({
      method: 'PUT',
      url: `/v1/items/${id}`,
      ...json({ title, type: 'movie', genres: [genre], description }),
    });
    t.equal(response.statusCode, 201, response.body);
  }
  await context.app.embedding.idle();
  return context;
}

const postEvents = async ({ inject }: TestApp, events: object[]) => {
  const response = await inject({ method: 'POST', url: '/v1/events', ...json({ events }) });
  if (response.statusCode !== 200) throw new Error(response.body);
  return response.json<{ accepted: number; duplicates: number; rejected: unknown[] }>();
};

const sorted = (ids: readonly string[] | undefined) => [...(ids ?? [])].sort();

t.test('POST /v1/events builds the profile, and each later POST updates it', async (t) => {
  const context = await withCatalog(t);
  const { database, config } = context;
  const at = (day: number) => new Date(Date.UTC(2024, 2, day)).toISOString();
  const first = await postEvents(context, [
    ...['space-1', 'space-2', 'space-3', 'space-4'].flatMap((itemId, n) => [
      { userId: 'ada', itemId, type: 'complete', timestamp: at(1 + n) },
      { userId: 'ada', itemId, type: 'like', timestamp: at(1 + n) },
    ]),
    ...['food-1', 'food-2', 'food-3', 'food-4'].map((itemId, n) => ({
      userId: 'ada',
      itemId,
      type: 'complete',
      timestamp: at(1 + n),
    })),
    { userId: 'bob', itemId: 'food-1', type: 'play', timestamp: at(1) },
    { userId: 'cyd', itemId: 'no-such-item', type: 'like', timestamp: at(1) },
  ]);
  t.same(first, {
    accepted: 13,
    duplicates: 0,
    rejected: [{ index: 13, problem: 'itemId: unknown item "no-such-item"' }],
  });

  const row = await findUserProfile(database.db, 'ada');
  t.ok(row, 'the profile is there when the POST answers');
  t.equal(row?.embedding_model, config.embedding.model);
  t.equal(row?.events_seen, 12);
  t.same(row?.last_event_at, new Date(at(4)));
  const interests = row?.profile.interests ?? [];
  t.same(
    interests.map((interest) => sorted(interest.itemIds)),
    [
      ['space-1', 'space-2', 'space-3', 'space-4'],
      ['food-1', 'food-2', 'food-3', 'food-4'],
    ],
    'two interests, each with its own items, the liked one first',
  );
  t.equal(interests[0]?.vector.length, config.embedding.dimension);
  t.equal(row?.profile.negative, null);
  t.equal(row?.profile.history.length, 8);
  t.equal(row?.profile.history[0]?.itemId, 'space-4', 'liked and finished on the latest day: heaviest');

  t.ok(await findUserProfile(database.db, 'bob'), 'every user with stored events gets a profile');
  t.equal(await findUserProfile(database.db, 'cyd'), undefined, 'no profile without a stored event');

  const again = await postEvents(context, [
    { userId: 'ada', itemId: 'fear-1', type: 'dislike', timestamp: at(10) },
    { userId: 'ada', itemId: 'space-1', type: 'complete', timestamp: at(1) },
  ]);
  t.same(again, { accepted: 1, duplicates: 1, rejected: [] });
  const updated = await findUserProfile(database.db, 'ada');
  t.equal(updated?.events_seen, 13);
  t.same(updated?.last_event_at, new Date(at(10)));
  t.same(updated?.profile.negative?.itemIds, ['fear-1'], 'the dislike is the negative direction');
  t.same(
    updated?.profile.interests.map((interest) => sorted(interest.itemIds)),
    [
      ['space-1', 'space-2', 'space-3', 'space-4'],
      ['food-1', 'food-2', 'food-3', 'food-4'],
    ],
  );
  t.ok(
    updated!.profile.interests[0]!.weight < interests[0]!.weight,
    'the older events decay from the new latest event',
  );
  t.ok(updated!.updated_at >= row!.updated_at);

  const erased = await context.inject({ method: 'DELETE', url: '/v1/users/ada' });
  t.equal(erased.statusCode, 204);
  t.equal(await findUserProfile(database.db, 'ada'), undefined, 'erasing the user erases the profile');
  t.ok(await findUserProfile(database.db, 'bob'), 'and only theirs');
});

t.test('an events import refreshes the profiles of its users', async (t) => {
  const context = await withCatalog(t);
  const records = ['food-1', 'food-2', 'food-3'].map((itemId, n) => ({
    userId: 'imported',
    itemId,
    type: 'rate',
    value: 5 - n,
    timestamp: new Date(Date.UTC(2012, 0, 1 + n)).toISOString(),
  }));
  const response = await context.inject({
    method: 'POST',
    url: '/v1/imports?kind=events&format=ndjson&wait=true',
    headers: { 'content-type': 'application/x-ndjson' },
    payload: records.map((record) => JSON.stringify(record)).join('\n'),
  });
  t.equal(response.statusCode, 200, response.body);
  t.equal(response.json().status, 'completed');
  const row = await findUserProfile(context.database.db, 'imported');
  t.equal(row?.events_seen, 3);
  // Mean (5 + 4 + 3 + 6) / 5 = 3.6: the 5 and the 4 count for, the 3 against.
  t.same(
    row?.profile.history.map((entry) => [entry.itemId, Math.sign(entry.weight)]),
    [
      ['food-1', 1],
      ['food-3', -1],
      ['food-2', 1],
    ],
  );
  t.same(
    row?.profile.interests.map((interest) => sorted(interest.itemIds)),
    [['food-1', 'food-2']],
  );
  // A below-mean rating counts against in the history, but only explicit rejections (dislike, skip) make
  // the direction to avoid.
  t.equal(row?.profile.negative, null);
  t.same(
    row?.profile.interactions?.map((entry) => entry.itemId),
    ['food-1', 'food-2', 'food-3'],
    'every rated item is an interaction for the collaborative source, strongest rating first',
  );
});

t.test('refreshUserProfiles rebuilds from the latest events and drops profiles without events', async (t) => {
  const context = await withCatalog(t);
  const { database, config } = context;
  const base = Date.UTC(2024, 0, 1);
  // More events than a profile reads: the oldest (likes of space titles) fall outside the window.
  const events = Array.from({ length: PROFILE_EVENTS_PER_USER + 20 }, (_, n) => ({
    id: `e-${n}`,
    userId: 'heavy',
    itemId: n < 20 ? `space-${1 + (n % 4)}` : `food-${1 + (n % 4)}`,
    type: n < 20 ? 'like' : 'view',
    timestamp: new Date(base + n * 60_000).toISOString(),
  }));
  for (let start = 0; start < events.length; start += 1000)
    await postEvents(context, events.slice(start, start + 1000));
  await postEvents(context, [{ userId: 'gone', itemId: 'food-1', type: 'like' }]);

  const row = await findUserProfile(database.db, 'heavy');
  t.equal(row?.events_seen, PROFILE_EVENTS_PER_USER);
  t.same(
    sorted(row?.profile.history.map((entry) => entry.itemId)),
    ['food-1', 'food-2', 'food-3', 'food-4'],
    'only the latest 500 events count',
  );

  await database.db.deleteFrom('events').where('user_id', '=', 'gone').execute();
  const written = await refreshUserProfiles(database.db, config.recommender, config.embedding.model, [
    'heavy',
    'gone',
    'never-seen',
    'heavy',
  ]);
  t.equal(written, 1, 'heavy is written; gone has no events left, never-seen does not exist');
  t.equal(await findUserProfile(database.db, 'gone'), undefined);
  t.same(
    (await findUserProfile(database.db, 'heavy'))?.profile,
    row?.profile,
    'the same events, the same profile',
  );
});
