import t from 'tap';
import type { RecommendationStats } from '../../src/schemas/stats.schema.ts';
import { buildTestApp, json, type TestApp } from '../helpers/test-app.ts';
import { insertImpressions } from '../helpers/recommendation-data.ts';

const DAY = 86_400_000;

/**
 * Four pages: r1 (variant A) and r2, r4 (variant B) served now, r3 (variant A) a month ago. Their events, and
 * what each one must count for, are listed next to them.
 */
async function statsApp(t: Parameters<typeof buildTestApp>[0]): Promise<TestApp> {
  const testApp = await buildTestApp(t);
  const { inject, database } = testApp;
  for (const id of ['i1', 'i2', 'i3', 'i4']) {
    const response = await inject({
      method: 'PUT',
      url: `/v1/items/${id}`,
      ...json({ title: `Title ${id}` }),
    });
    t.equal(response.statusCode, 201);
  }
  await insertImpressions(database.db, [
    {
      recommendationId: 'r1',
      variant: 'A',
      userId: 'u1',
      itemIds: ['i1', 'i2', 'i3'],
      sources: [['collaborative', 'vector'], ['trending'], ['vector']],
    },
    {
      recommendationId: 'r2',
      variant: 'B',
      userId: 'u2',
      itemIds: ['i2', 'i1'],
      sources: [['vector'], ['collaborative']],
    },
    {
      recommendationId: 'r3',
      variant: 'A',
      userId: 'u3',
      itemIds: ['i1'],
      sources: [['vector']],
      createdAt: new Date(Date.now() - 30 * DAY),
    },
    { recommendationId: 'r4', variant: 'B', userId: 'u4', itemIds: ['i4'], sources: [['fresh']] },
  ]);
  const events = [
    // r1 i1 (position 0): clicked and completed, counted once although clicked and played.
    { userId: 'u1', itemId: 'i1', type: 'click', recommendationId: 'r1' },
    { userId: 'u1', itemId: 'i1', type: 'play', recommendationId: 'r1' },
    { userId: 'u1', itemId: 'i1', type: 'complete', recommendationId: 'r1' },
    // r1 i3 (position 2): a play is a click.
    { userId: 'u1', itemId: 'i3', type: 'play', recommendationId: 'r1' },
    // r2 i1 (position 1): clicked; r2 i2: completed without a click event.
    { userId: 'u2', itemId: 'i1', type: 'click', recommendationId: 'r2' },
    { userId: 'u2', itemId: 'i2', type: 'complete', recommendationId: 'r2' },
    // r3 i1: clicked, but the page is a month old.
    { userId: 'u3', itemId: 'i1', type: 'click', recommendationId: 'r3' },
    // Not an impression of r3; not attributed; not a click.
    { userId: 'u3', itemId: 'i2', type: 'click', recommendationId: 'r3' },
    { userId: 'u4', itemId: 'i4', type: 'click' },
    { userId: 'u4', itemId: 'i4', type: 'view', recommendationId: 'r4' },
  ];
  const posted = await inject({ method: 'POST', url: '/v1/events', ...json({ events }) });
  t.equal(posted.json().accepted, events.length, posted.body);
  return testApp;
}

const metrics = (
  impressions: number,
  clicks: number,
  completions: number,
  meanClickedPosition: number | null,
) => ({
  impressions,
  clicks,
  completions,
  clickThroughRate: clicks / impressions,
  completionRate: completions / impressions,
  meanClickedPosition,
  feedback: { up: 0, down: 0, notInterested: 0, explanationUp: 0, explanationDown: 0 },
});

t.test('impressions, clicks and completions overall, per source and per variant', async (t) => {
  const { inject } = await statsApp(t);
  const response = await inject({ method: 'GET', url: '/v1/stats/recommendations' });
  t.equal(response.statusCode, 200, response.body);
  const stats = response.json();
  t.ok(Date.parse(stats.to) - Date.parse(stats.from) === 7 * DAY, 'the last 7 days by default');
  t.equal(stats.variant, null);
  t.same(stats.totals, metrics(6, 3, 2, 1), 'r1, r2 and r4: clicks at positions 0, 2 and 1');
  t.same(stats.sources, [
    { source: 'vector', ...metrics(3, 2, 2, 1) },
    { source: 'collaborative', ...metrics(2, 2, 1, 0.5) },
    { source: 'fresh', ...metrics(1, 0, 0, null) },
    { source: 'trending', ...metrics(1, 0, 0, null) },
  ]);
  t.same(stats.variants, [
    {
      variant: 'A',
      ...metrics(3, 2, 1, 1),
      sources: [
        { source: 'vector', ...metrics(2, 2, 1, 1) },
        { source: 'collaborative', ...metrics(1, 1, 1, 0) },
        { source: 'trending', ...metrics(1, 0, 0, null) },
      ],
    },
    {
      variant: 'B',
      ...metrics(3, 1, 1, 1),
      sources: [
        { source: 'collaborative', ...metrics(1, 1, 0, 1) },
        { source: 'fresh', ...metrics(1, 0, 0, null) },
        { source: 'vector', ...metrics(1, 0, 1, null) },
      ],
    },
  ]);
});

t.test('from, to and variant narrow the impressions counted', async (t) => {
  const { inject } = await statsApp(t);
  const get = async (query: string) => {
    const response = await inject({ method: 'GET', url: `/v1/stats/recommendations?${query}` });
    t.equal(response.statusCode, 200, response.body);
    return response.json<RecommendationStats>();
  };
  const from = new Date(Date.now() - 40 * DAY).toISOString();
  const all = await get(`from=${from}`);
  t.same(all.totals, metrics(7, 4, 2, 0.75), 'the month-old page r3 is in');
  t.equal(all.from, from);

  const a = await get(`variant=A&from=${from}`);
  t.equal(a.variant, 'A');
  t.same(a.totals, metrics(4, 3, 1, 2 / 3));
  t.same(
    a.variants.map((variant: { variant: string }) => variant.variant),
    ['A'],
  );

  const old = await get(`from=${from}&to=${new Date(Date.now() - 20 * DAY).toISOString()}`);
  t.same(old.totals, metrics(1, 1, 0, 0), 'only r3');
  t.same(old.sources, [{ source: 'vector', ...metrics(1, 1, 0, 0) }]);

  const none = await get('variant=nobody');
  t.same(none.totals, {
    impressions: 0,
    clicks: 0,
    completions: 0,
    clickThroughRate: 0,
    completionRate: 0,
    meanClickedPosition: null,
    feedback: { up: 0, down: 0, notInterested: 0, explanationUp: 0, explanationDown: 0 },
  });
  t.same(none.sources, []);
  t.same(none.variants, []);
});

t.test('bad queries are 400 problems naming the parameter; only admins may read', async (t) => {
  const { inject } = await buildTestApp(t);
  for (const [query, field] of [
    ['from=yesterday', 'query.from'],
    ['from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'query.to'],
    ['variant=a%20b', 'query.variant'],
    ['source=vector', 'query.source'],
  ] as const) {
    const response = await inject({ method: 'GET', url: `/v1/stats/recommendations?${query}` });
    t.equal(response.statusCode, 400, `${query}: ${response.body}`);
    t.match(response.headers['content-type'], /problem\+json/);
    t.match(response.body, field, `${query} names ${field}`);
  }
  const client = (
    await inject({
      method: 'POST',
      url: '/v1/admin/keys',
      ...json({ name: 'web', scopes: ['client', 'ingest'] }),
    })
  ).json().key as string;
  const refused = await inject({
    method: 'GET',
    url: '/v1/stats/recommendations',
    headers: { authorization: `Bearer ${client}` },
  });
  t.equal(refused.statusCode, 403);
});
