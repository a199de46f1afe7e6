import t from 'tap';
import { buildTestApp, json } from '../helpers/test-app.ts';

async function withCatalog(t: Parameters<typeof buildTestApp>[0]) {
  const context = await buildTestApp(t);
  for (const id of ['m1', 'm2', 'm3']) {
    await context.inject({ method: 'PUT', url: `/v1/items/${id}`, ...json({ title: `Title ${id}` }) });
  }
  return context;
}

t.test(
  'each event is judged on its own: good ones are stored, bad ones listed with the reason',
  async (t) => {
    const { inject } = await withCatalog(t);
    const response = await inject({
      method: 'POST',
      url: '/v1/events',
      ...json({
        events: [
          { userId: 'u1', itemId: 'm1', type: 'play' },
          { userId: 'u1', itemId: 'unknown-item', type: 'play' },
          { userId: 'u1', itemId: 'm2', type: 'rate', value: 7 },
          { userId: 'u1', itemId: 'm2', type: 'progress', value: 0.5, timestamp: '2024-05-01T10:00:00Z' },
          { userId: 'bad id!', itemId: 'm2', type: 'view' },
          { userId: 'u1', itemId: 'm3', type: 'teleport' },
          { userId: 'u1', itemId: 'm3', type: 'view', value: 1 },
          'not an object',
          { userId: 'u1', itemId: 'm3', type: 'view', colour: 'red' },
          { userId: 'u1', itemId: 'm3', type: 'view', timestamp: '2999-01-01T00:00:00Z' },
          {
            userId: 'u1',
            itemId: 'm3',
            type: 'rate',
            value: 4.5,
            context: { device: 'tv' },
            recommendationId: 'rec-1',
          },
        ],
      }),
    });
    t.equal(response.statusCode, 200);
    const result = response.json();
    t.equal(result.accepted, 3);
    t.equal(result.duplicates, 0);
    t.same(
      result.rejected.map((rejection: { index: number }) => rejection.index),
      [1, 2, 4, 5, 6, 7, 8, 9],
    );
    const problems = Object.fromEntries(
      result.rejected.map((rejection: { index: number; problem: string }) => [
        rejection.index,
        rejection.problem,
      ]),
    );
    t.match(problems[1], /^itemId: unknown item "unknown-item"/);
    t.match(problems[2], /^value: .*0 to 5/);
    t.match(problems[4], /^userId: /);
    t.match(problems[5], /^type: must be one of view/);
    t.match(problems[6], /^value: is only used with rate and progress/);
    t.match(problems[8], /^colour: unknown field/);
    t.match(problems[9], /^timestamp: must not be in the future/);

    const stored = (await inject({ method: 'GET', url: '/v1/users/u1/events' })).json().events;
    t.equal(stored.length, 3);
    const rated = stored.find((event: { type: string }) => event.type === 'rate');
    t.match(rated, { itemId: 'm3', value: 4.5, context: { device: 'tv' }, recommendationId: 'rec-1' });
    const progress = stored.find((event: { type: string }) => event.type === 'progress');
    t.equal(progress.timestamp, '2024-05-01T10:00:00.000Z', 'a past timestamp is kept');
  },
);

t.test('duplicates: a repeated id, or the same user, item, type and time, changes nothing', async (t) => {
  const { inject } = await withCatalog(t);
  const batch = {
    events: [
      { id: 'evt-1', userId: 'u1', itemId: 'm1', type: 'play' },
      { userId: 'u1', itemId: 'm2', type: 'complete', timestamp: '2024-01-01T00:00:00Z' },
      { id: 'evt-1', userId: 'u1', itemId: 'm3', type: 'like' },
    ],
  };
  const first = (await inject({ method: 'POST', url: '/v1/events', ...json(batch) })).json();
  t.same(
    first,
    { accepted: 2, duplicates: 1, rejected: [] },
    'a repeated id within one batch is a duplicate',
  );
  const again = (await inject({ method: 'POST', url: '/v1/events', ...json(batch) })).json();
  t.same(again, { accepted: 0, duplicates: 3, rejected: [] });
  const events = (await inject({ method: 'GET', url: '/v1/users/u1/events' })).json().events;
  t.equal(events.length, 2);
  t.equal(events.find((event: { itemId: string }) => event.itemId === 'm1').id, 'evt-1');
});

t.test('an unknown user is created on the fly', async (t) => {
  const { inject } = await withCatalog(t);
  await inject({
    method: 'POST',
    url: '/v1/events',
    ...json({ events: [{ userId: 'newbie', itemId: 'm1', type: 'view' }] }),
  });
  const user = await inject({ method: 'GET', url: '/v1/users/newbie' });
  t.equal(user.statusCode, 200);
  t.same(user.json().attributes, {});
});

t.test('events list newest first across pages, with a stable cursor', async (t) => {
  const { inject } = await withCatalog(t);
  const events = Array.from({ length: 25 }, (_, index) => ({
    id: `e-${index}`,
    userId: 'u1',
    itemId: 'm1',
    type: 'view',
    // two events per instant, so the cursor must break ties
    timestamp: new Date(Date.UTC(2024, 0, 1, 0, Math.floor(index / 2))).toISOString(),
  }));
  const posted = (await inject({ method: 'POST', url: '/v1/events', ...json({ events }) })).json();
  t.equal(posted.accepted, 25);
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const url: string = `/v1/users/u1/events?limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = (await inject({ method: 'GET', url })).json();
    seen.push(...page.events.map((event: { id: string }) => event.id));
    cursor = page.nextCursor;
  } while (cursor);
  t.equal(seen.length, 25, 'every event exactly once');
  t.equal(new Set(seen).size, 25);
  t.same(seen.slice(0, 1), ['e-24'], 'newest first');
  const times = seen.map((id) => Date.parse(events[Number(id.slice(2))]!.timestamp));
  t.ok(
    times.every((time, index) => index === 0 || time <= times[index - 1]!),
    'ordered by time, newest first',
  );
});

t.test('a batch is 1 to 1,000 events', async (t) => {
  const { inject } = await withCatalog(t);
  const empty = await inject({ method: 'POST', url: '/v1/events', ...json({ events: [] }) });
  t.equal(empty.statusCode, 400);
  t.equal(empty.json().errors[0].path, 'body.events');
  const tooMany = Array.from({ length: 1001 }, () => ({ userId: 'u', itemId: 'm1', type: 'view' }));
  const large = await inject({ method: 'POST', url: '/v1/events', ...json({ events: tooMany }) });
  t.equal(large.statusCode, 400);
  t.match(large.json().detail, /at most 1000/);
  const thousand = tooMany.slice(0, 1000).map((event, index) => ({ ...event, id: `bulk-${index}` }));
  const full = await inject({ method: 'POST', url: '/v1/events', ...json({ events: thousand }) });
  t.equal(full.json().accepted, 1000);
});
