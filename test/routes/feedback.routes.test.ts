import t from 'tap';
import { buildTestApp, json, type TestApp } from '../helpers/test-app.ts';

const ON_REQUEST = { MARQUEE_MODEL_REFRESH_MINUTES: '0' };

/** Eight items; u1 and five others watched a, b and c; the others also watched d to h: u1's candidates. */
async function seed(test: TestApp) {
  for (const id of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) {
    const response = await test.inject({
      method: 'PUT',
      url: `/v1/items/${id}`,
      ...json({ title: `Title ${id}` }),
    });
    if (response.statusCode !== 201) throw new Error(response.body);
  }
  const events = [];
  for (let u = 1; u <= 6; u++)
    for (const itemId of u === 1 ? ['a', 'b', 'c'] : ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'])
      events.push({ userId: `u${u}`, itemId, type: 'complete' });
  const response = await test.inject({ method: 'POST', url: '/v1/events', ...json({ events }) });
  if (response.json().accepted !== events.length) throw new Error(response.body);
  const trained = await test.inject({ method: 'POST', url: '/v1/admin/models/train' });
  if (trained.statusCode !== 200) throw new Error(trained.body);
}

async function page(test: TestApp) {
  const response = await test.inject({ method: 'GET', url: '/v1/users/u1/recommendations?limit=10' });
  if (response.statusCode !== 200) throw new Error(response.body);
  return response.json<{
    recommendationId: string;
    variant: string;
    items: { itemId: string; reasons: { source: string }[] }[];
  }>();
}

const feedback = (test: TestApp, body: Record<string, unknown>) =>
  test.inject({ method: 'POST', url: '/v1/feedback', ...json(body) });

t.test(
  'not interested hides the item at once; a thumbs down too; stats count them by source and variant',
  async (t) => {
    const test = await buildTestApp(t, { env: ON_REQUEST });
    await seed(test);
    const first = await page(test);
    t.ok(first.items.length >= 3, `${first.items.length} items`);
    const [hidden, disliked, explained] = first.items.map((item) => item.itemId);

    const notInterested = await feedback(test, {
      userId: 'u1',
      itemId: hidden,
      recommendationId: first.recommendationId,
      value: 'not_interested',
    });
    t.equal(notInterested.statusCode, 201, notInterested.body);
    t.match(notInterested.json(), { event: 'skip', hidden: true });
    t.notOk(
      (await page(test)).items.some((item) => item.itemId === hidden),
      'gone from the next page',
    );

    t.match(
      (
        await feedback(test, {
          userId: 'u1',
          itemId: disliked,
          recommendationId: first.recommendationId,
          value: 'down',
        })
      ).json(),
      {
        event: 'dislike',
        hidden: true,
      },
    );
    const onExplanation = await feedback(test, {
      userId: 'u1',
      itemId: explained,
      recommendationId: first.recommendationId,
      target: 'explanation',
      value: 'down',
    });
    t.equal(onExplanation.statusCode, 201);
    t.match(onExplanation.json(), { event: null, hidden: false });
    t.ok(
      (await page(test)).items.some((item) => item.itemId === explained),
      'feedback on an explanation hides nothing',
    );

    const events = await test.database.db
      .selectFrom('events')
      .select(['item_id', 'type', 'recommendation_id'])
      .where('user_id', '=', 'u1')
      .where('type', 'in', ['skip', 'dislike'])
      .orderBy('seq')
      .execute();
    t.same(events, [
      { item_id: hidden, type: 'skip', recommendation_id: first.recommendationId },
      { item_id: disliked, type: 'dislike', recommendation_id: first.recommendationId },
    ]);

    const stats = (await test.inject({ method: 'GET', url: '/v1/stats/recommendations' })).json();
    t.same(stats.totals.feedback, { up: 0, down: 1, notInterested: 1, explanationUp: 0, explanationDown: 1 });
    const variant = stats.variants.find((entry: { variant: string }) => entry.variant === first.variant);
    t.same(variant.feedback, stats.totals.feedback, 'the page variant has them all');
    const source = first.items[0]!.reasons[0]!.source;
    const bySource = stats.sources.find((entry: { source: string }) => entry.source === source);
    t.ok(bySource.feedback.notInterested >= 1, `counted for ${source}, a source of the hidden item`);
  },
);

t.test('bad feedback is a 400 naming the field, and stores nothing', async (t) => {
  const test = await buildTestApp(t, { env: ON_REQUEST });
  await seed(test);
  const cases: [Record<string, unknown>, string][] = [
    [{ userId: 'u1', itemId: 'nope', value: 'up' }, 'body.itemId'],
    [{ userId: 'u1', itemId: 'a', target: 'explanation', value: 'not_interested' }, 'body.value'],
    [{ userId: 'u1', itemId: 'a', value: 'meh' }, 'body.value'],
    [{ userId: 'u1', itemId: 'a', target: 'title', value: 'up' }, 'body.target'],
    [{ userId: 'u1', value: 'up' }, 'body.itemId'],
    [
      JSON.parse('{"userId":"u1","itemId":"a","value":"up","__proto__":{"admin":true}}') as Record<
        string,
        unknown
      >,
      'body',
    ],
  ];
  for (const [body, path] of cases) {
    const response = await feedback(test, body);
    t.equal(response.statusCode, 400, JSON.stringify(body));
    t.match(response.headers['content-type'], /application\/problem\+json/);
    const problem = response.json<{ detail: string; errors?: { path: string }[] }>();
    t.ok(
      problem.errors?.some((error) => error.path.startsWith(path)) ?? /body/i.test(problem.detail),
      `${JSON.stringify(body)} names ${path}: ${response.body}`,
    );
  }
  t.equal((await test.database.db.selectFrom('recommendation_feedback').select('id').execute()).length, 0);
});

t.test('feedback is in the user export and goes with an erasure', async (t) => {
  const test = await buildTestApp(t, { env: ON_REQUEST });
  await seed(test);
  t.equal((await feedback(test, { userId: 'u1', itemId: 'd', value: 'up' })).statusCode, 201);
  const exported = (await test.inject({ method: 'GET', url: '/v1/users/u1/export' })).json();
  t.match(exported.feedback, [{ itemId: 'd', target: 'item', value: 'up', recommendationId: null }]);
  t.equal((await test.inject({ method: 'DELETE', url: '/v1/users/u1' })).statusCode, 204);
  t.equal((await test.database.db.selectFrom('recommendation_feedback').select('id').execute()).length, 0);
});
