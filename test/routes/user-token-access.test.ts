import t from 'tap';
import { buildTestApp, json } from '../helpers/test-app.ts';

// Issue 17: what a user token may do, operation by operation. A browser frontend holding alice's token reads
// the catalog and everything about alice it needs (recommendations, search, session pages, chat, her events)
// and nothing about anyone else. Every operation of the document must be in this table.
type Request = { url: string; body?: unknown };
const ALLOWED: Record<string, { own: Request; other?: Request }> = {
  'GET /v1/items/{itemId}': { own: { url: '/v1/items/m1' } },
  'GET /v1/items': { own: { url: '/v1/items' } },
  'GET /v1/items/{itemId}/similar': { own: { url: '/v1/items/m1/similar' } },
  'GET /v1/trending': { own: { url: '/v1/trending' } },
  'GET /v1/users/{userId}/recommendations': {
    own: { url: '/v1/users/alice/recommendations' },
    other: { url: '/v1/users/bob/recommendations' },
  },
  'GET /v1/users/{userId}/events': {
    own: { url: '/v1/users/alice/events' },
    other: { url: '/v1/users/bob/events' },
  },
  'POST /v1/events': {
    own: { url: '/v1/events', body: { events: [{ userId: 'alice', itemId: 'm1', type: 'play' }] } },
    other: { url: '/v1/events', body: { events: [{ userId: 'bob', itemId: 'm1', type: 'play' }] } },
  },
  'POST /v1/recommendations': {
    own: { url: '/v1/recommendations', body: { userId: 'alice', recentItemIds: ['m1'] } },
    other: { url: '/v1/recommendations', body: { userId: 'bob', recentItemIds: ['m1'] } },
  },
  'POST /v1/search': {
    own: { url: '/v1/search', body: { userId: 'alice', query: 'alien' } },
    other: { url: '/v1/search', body: { userId: 'bob', query: 'alien' } },
  },
  'POST /v1/chat': {
    own: { url: '/v1/chat', body: { userId: 'alice', message: 'something scary' } },
    other: { url: '/v1/chat', body: { userId: 'bob', message: 'something scary' } },
  },
  'POST /v1/feedback': {
    own: { url: '/v1/feedback', body: { userId: 'alice', itemId: 'm2', value: 'not_interested' } },
    other: { url: '/v1/feedback', body: { userId: 'bob', itemId: 'm1', value: 'down' } },
  },
};
// Public: no credential needed at all.
const PUBLIC = new Set(['GET /healthz', 'GET /readyz', 'GET /v1/explanations/{streamId}']);

t.test("a user token reads the catalog and its own user's pages, never another user's data", async (t) => {
  const { app, inject } = await buildTestApp(t);
  for (const [id, title] of [
    ['m1', 'Alien'],
    ['m2', 'Aliens'],
  ])
    await inject({ method: 'PUT', url: `/v1/items/${id}`, ...json({ title, genres: ['Horror'] }) });
  await inject({
    method: 'POST',
    url: '/v1/events',
    ...json({
      events: [
        { userId: 'alice', itemId: 'm1', type: 'like' },
        { userId: 'bob', itemId: 'm2', type: 'like' },
      ],
    }),
  });
  const token = (
    await inject({ method: 'POST', url: '/v1/admin/user-tokens', ...json({ userId: 'alice' }) })
  ).json().token as string;
  const asAlice = (method: string, request: Request) =>
    app.inject({
      method: method as 'GET',
      url: request.url,
      headers: {
        authorization: `Bearer ${token}`,
        ...(request.body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(request.body !== undefined && { payload: JSON.stringify(request.body) }),
    });

  const document = app.swagger() as unknown as {
    paths: Record<string, Record<string, { requestBody?: unknown }>>;
  };
  const seen = new Set<string>();
  for (const [path, item] of Object.entries(document.paths))
    for (const [method, operation] of Object.entries(item)) {
      const name = `${method.toUpperCase()} ${path}`;
      seen.add(name);
      if (PUBLIC.has(name)) continue;
      const allowed = ALLOWED[name];
      if (!allowed) {
        const url = path.replace(/\{userId\}/g, 'alice').replace(/\{\w+\}/g, 'm1');
        const refused = await asAlice(method.toUpperCase(), {
          url,
          ...(operation.requestBody ? { body: {} } : {}),
        });
        t.equal(refused.statusCode, 403, `${name}: refused to a user token`);
        continue;
      }
      const own = await asAlice(method.toUpperCase(), allowed.own);
      t.ok(
        own.statusCode === 200 || own.statusCode === 201,
        `${name}: allowed for its own user (${own.body.slice(0, 120)})`,
      );
      if (allowed.other) {
        const other = await asAlice(method.toUpperCase(), allowed.other);
        t.equal(other.statusCode, 403, `${name}: refused for another user`);
        t.notMatch(other.body, /"bob"|Aliens/, `${name}: says nothing about the other user`);
      }
    }
  for (const name of [...Object.keys(ALLOWED), ...PUBLIC]) t.ok(seen.has(name), `${name} is documented`);
});
