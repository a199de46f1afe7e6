import t from 'tap';
import { buildTestApp, json } from '../helpers/test-app.ts';

// Issue 16, finding 3: NUL characters and unpaired surrogates in any string a client sends (body, query,
// nested attributes, keys) are refused with a 400 problem naming the field, never a 500, and nothing stored
// changes.
const NUL = 'a\u0000b';
const LONE = 'x\ud800y';

t.test('NUL characters and unpaired surrogates get 400 naming the field, and change nothing', async (t) => {
  const { inject } = await buildTestApp(t);
  t.equal(
    (
      await inject({
        method: 'PUT',
        url: '/v1/items/ref',
        ...json({ title: 'Reference', genres: ['Drama'] }),
      })
    ).statusCode,
    201,
  );
  await inject({ method: 'PUT', url: '/v1/items/other', ...json({ title: 'Other', genres: ['Drama'] }) });
  const events = {
    events: [{ userId: 'u1', itemId: 'ref', type: 'like', timestamp: '2026-11-01T10:00:00Z' }],
  };
  t.equal((await inject({ method: 'POST', url: '/v1/events', ...json(events) })).json().accepted, 1);
  const before = {
    item: (await inject({ method: 'GET', url: '/v1/items/ref' })).json(),
    events: (await inject({ method: 'GET', url: '/v1/users/u1/events' })).json(),
  };

  const cases: { name: string; request: Parameters<typeof inject>[0]; path: RegExp }[] = [
    {
      name: 'item title',
      request: { method: 'PUT', url: '/v1/items/ref', ...json({ title: NUL }) },
      path: /^body\.title$/,
    },
    {
      name: 'item title, lone surrogate',
      request: { method: 'PUT', url: '/v1/items/ref', ...json({ title: LONE }) },
      path: /^body\.title$/,
    },
    {
      name: 'item genre',
      request: { method: 'PATCH', url: '/v1/items/ref', ...json({ genres: [NUL] }) },
      path: /^body\.genres\[0\]$/,
    },
    {
      name: 'nested attribute',
      request: {
        method: 'PUT',
        url: '/v1/items/ref',
        ...json({ title: 'T', attributes: { a: { b: [LONE] } } }),
      },
      path: /^body\.attributes\.a\.b\[0\]$/,
    },
    {
      name: 'attribute key',
      request: { method: 'PATCH', url: '/v1/items/ref', ...json({ attributes: { [NUL]: 1 } }) },
      path: /^body\.attributes/,
    },
    {
      name: 'item list query',
      request: { method: 'GET', url: '/v1/items?genre=%00' },
      path: /^query\.genre$/,
    },
    {
      name: 'user attribute',
      request: { method: 'PUT', url: '/v1/users/u1', ...json({ attributes: { plan: '\ud800' } }) },
      path: /^body\.attributes\.plan$/,
    },
    {
      name: 'admin key name',
      request: { method: 'POST', url: '/v1/admin/keys', ...json({ name: NUL, scopes: ['read'] }) },
      path: /^body\.name$/,
    },
    {
      name: 'search query',
      request: { method: 'POST', url: '/v1/search', ...json({ query: LONE }) },
      path: /^body\.query$/,
    },
    {
      name: 'search filter',
      request: { method: 'POST', url: '/v1/search', ...json({ query: 'drama', filters: { genres: [NUL] } }) },
      path: /^body\.filters\.genres\[0\]$/,
    },
    {
      name: 'recommendations filter',
      request: { method: 'GET', url: '/v1/users/u1/recommendations?region=%00' },
      path: /^query\.region$/,
    },
    {
      name: 'session recommendations',
      request: {
        method: 'POST',
        url: '/v1/recommendations',
        ...json({ recentItemIds: ['ref'], filters: { region: LONE } }),
      },
      path: /^body\.filters\.region$/,
    },
    {
      name: 'chat message',
      request: { method: 'POST', url: '/v1/chat', ...json({ message: NUL }) },
      path: /^body\.message$/,
    },
    {
      name: 'trending filter',
      request: { method: 'GET', url: '/v1/trending?genre=%00' },
      path: /^query\.genre$/,
    },
    {
      name: 'similar filter',
      request: { method: 'GET', url: '/v1/items/ref/similar?excludeGenres=%00' },
      path: /^query\.excludeGenres/,
    },
    {
      name: 'attribute filter JSON',
      request: { method: 'GET', url: `/v1/trending?attributes=${encodeURIComponent('{"plan":"a\\u0000"}')}` },
      path: /^query\.attributes/,
    },
  ];
  for (const { name, request, path } of cases) {
    const response = await inject(request);
    t.equal(response.statusCode, 400, `${name}: 400 (${response.body.slice(0, 200)})`);
    t.match(response.headers['content-type'], /application\/problem\+json/, `${name}: a problem`);
    const body = response.json<{ errors?: { path: string; message: string }[]; detail: string }>();
    const named = body.errors?.some((error) => path.test(error.path)) ?? path.test(body.detail);
    t.ok(named, `${name}: names the field (${JSON.stringify(body.errors ?? body.detail)})`);
  }

  // Events are checked one by one (one bad event never drops the others): each is rejected naming its field.
  for (const [name, event, field] of [
    ['recommendationId', { recommendationId: NUL }, /^recommendationId: contains a NUL character/],
    ['context', { context: { row: LONE } }, /^context\.row: is not valid Unicode/],
  ] as const) {
    const response = await inject({
      method: 'POST',
      url: '/v1/events',
      ...json({ events: [{ userId: 'u1', itemId: 'ref', type: 'play', ...event }] }),
    });
    t.equal(response.statusCode, 200, `event ${name}`);
    t.match(
      response.json(),
      { accepted: 0, rejected: [{ index: 0, problem: field }] },
      `event ${name}: named`,
    );
  }

  t.same(
    (await inject({ method: 'GET', url: '/v1/items/ref' })).json(),
    before.item,
    'the item is unchanged',
  );
  t.same(
    (await inject({ method: 'GET', url: '/v1/users/u1/events' })).json(),
    before.events,
    'the events are unchanged',
  );
});

t.test('a blank string is refused where the schema says so (pattern \\S)', async (t) => {
  const { app, inject } = await buildTestApp(t);
  const blank = await inject({ method: 'PUT', url: '/v1/items/m1', ...json({ title: '   ' }) });
  t.equal(blank.statusCode, 400);
  t.match(blank.json().errors[0], { path: 'body.title', message: 'must not be blank' });
  const document = app.swagger() as unknown as {
    components: {
      schemas: Record<string, { properties?: Record<string, { pattern?: string; minLength?: number }> }>;
    };
  };
  const title = document.components.schemas.ItemWriteInput?.properties?.title;
  t.equal(title?.pattern, '\\S', 'the OpenAPI document says a title must hold a non-space character');
});
