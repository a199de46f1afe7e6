import type { InjectOptions } from 'fastify';
import t from 'tap';
import { buildTestApp, json } from '../helpers/test-app.ts';

interface Case {
  name: string;
  request: InjectOptions;
  status: number;
  /** The field the problem must name, when it is a validation problem. */
  path?: string;
}

const put = (url: string, body: unknown, contentType = 'application/json'): InjectOptions => ({
  method: 'PUT',
  url,
  headers: { 'content-type': contentType },
  payload: typeof body === 'string' ? body : JSON.stringify(body),
});
const tenMegabytes = 'x'.repeat(10 * 1024 * 1024);
const longText = 'a'.repeat(100_000);
const badCursor = Buffer.from(JSON.stringify({ v: 1, somethingElse: true })).toString('base64url');

const cases: Case[] = [
  {
    name: 'title of the wrong type',
    request: put('/v1/items/x1', { title: 42 }),
    status: 400,
    path: 'body.title',
  },
  { name: 'missing title', request: put('/v1/items/x1', { type: 'movie' }), status: 400, path: 'body.title' },
  {
    name: 'unknown field',
    request: put('/v1/items/x1', { title: 'a', rating: 5 }),
    status: 400,
    path: 'body.rating',
  },
  {
    name: 'invalid id in the path',
    request: put('/v1/items/bad%20id!', { title: 'a' }),
    status: 400,
    path: 'params.itemId',
  },
  {
    name: 'id of 129 characters',
    request: put(`/v1/items/${'i'.repeat(129)}`, { title: 'a' }),
    status: 400,
    path: 'params.itemId',
  },
  { name: 'truncated JSON', request: put('/v1/items/x1', '{"title": "Alien"'), status: 400 },
  {
    name: 'a 10 MB body',
    request: put('/v1/items/x1', { title: 'a', description: tenMegabytes }),
    status: 413,
  },
  {
    name: 'a 100,000-character title',
    request: put('/v1/items/x1', { title: longText }),
    status: 400,
    path: 'body.title',
  },
  {
    name: 'a 100,000-character description',
    request: put('/v1/items/x1', { title: 'a', description: longText }),
    status: 400,
    path: 'body.description',
  },
  { name: 'text/plain body', request: put('/v1/items/x1', '{"title":"a"}', 'text/plain'), status: 415 },
  {
    name: 'XML body',
    request: put('/v1/items/x1', '<item><title>a</title></item>', 'application/xml'),
    status: 415,
  },
  {
    name: 'genres as a string',
    request: put('/v1/items/x1', { title: 'a', genres: 'drama' }),
    status: 400,
    path: 'body.genres',
  },
  {
    name: '51 genres',
    request: put('/v1/items/x1', { title: 'a', genres: Array.from({ length: 51 }, (_, i) => `g${i}`) }),
    status: 400,
    path: 'body.genres',
  },
  {
    name: 'credit without a role',
    request: put('/v1/items/x1', { title: 'a', credits: [{ name: 'Someone' }] }),
    status: 400,
    path: 'body.credits[0].role',
  },
  {
    name: 'impossible release date',
    request: put('/v1/items/x1', { title: 'a', releaseDate: '2019-02-30' }),
    status: 400,
    path: 'body.releaseDate',
  },
  {
    name: 'negative duration',
    request: put('/v1/items/x1', { title: 'a', durationSeconds: -5 }),
    status: 400,
    path: 'body.durationSeconds',
  },
  {
    name: 'fractional duration',
    request: put('/v1/items/x1', { title: 'a', durationSeconds: 1.5 }),
    status: 400,
    path: 'body.durationSeconds',
  },
  {
    name: 'javascript: image URL',
    request: put('/v1/items/x1', { title: 'a', imageUrl: 'javascript:alert(1)' }),
    status: 400,
    path: 'body.imageUrl',
  },
  {
    name: 'availableFrom in words',
    request: put('/v1/items/x1', { title: 'a', availableFrom: 'yesterday' }),
    status: 400,
    path: 'body.availableFrom',
  },
  {
    name: 'upper-case type',
    request: put('/v1/items/x1', { title: 'a', type: 'Movie' }),
    status: 400,
    path: 'body.type',
  },
  { name: 'a JSON array as body', request: put('/v1/items/x1', [{ title: 'a' }]), status: 400 },
  { name: 'JSON null as body', request: put('/v1/items/x1', 'null'), status: 400 },
  {
    name: 'prototype pollution',
    request: put('/v1/items/x1', '{"title":"a","__proto__":{"admin":true}}'),
    status: 400,
  },
  {
    name: 'attributes over 16 KB',
    request: put('/v1/items/x1', { title: 'a', attributes: { blob: 'b'.repeat(17_000) } }),
    status: 400,
    path: 'body.attributes',
  },
  { name: 'empty JSON body', request: put('/v1/items/x1', ''), status: 400 },
  {
    name: 'PATCH with an unknown field',
    request: { method: 'PATCH', url: '/v1/items/keep-1', ...json({ nme: 'x' }) },
    status: 400,
    path: 'body.nme',
  },
  {
    name: 'PATCH clearing the type',
    request: { method: 'PATCH', url: '/v1/items/keep-1', ...json({ type: null }) },
    status: 400,
    path: 'body.type',
  },
  {
    name: 'negative limit',
    request: { method: 'GET', url: '/v1/items?limit=-1' },
    status: 400,
    path: 'query.limit',
  },
  {
    name: 'huge limit',
    request: { method: 'GET', url: '/v1/items?limit=1000000000000' },
    status: 400,
    path: 'query.limit',
  },
  {
    name: 'limit in words',
    request: { method: 'GET', url: '/v1/items?limit=ten' },
    status: 400,
    path: 'query.limit',
  },
  {
    name: 'garbage cursor',
    request: { method: 'GET', url: '/v1/items?cursor=%%%garbage' },
    status: 400,
    path: 'query.cursor',
  },
  {
    name: 'cursor of the wrong shape',
    request: { method: 'GET', url: `/v1/items?cursor=${badCursor}` },
    status: 400,
    path: 'query.cursor',
  },
  {
    name: 'bad events cursor',
    request: { method: 'GET', url: '/v1/users/keep-user/events?cursor=abc' },
    status: 400,
    path: 'query.cursor',
  },
  {
    name: 'unknown query parameter',
    request: { method: 'GET', url: '/v1/items?genres=drama' },
    status: 400,
    path: 'query.genres',
  },
  {
    name: 'updatedSince not a date',
    request: { method: 'GET', url: '/v1/items?updatedSince=last-week' },
    status: 400,
    path: 'query.updatedSince',
  },
  {
    name: 'a 100,000-character query value',
    request: { method: 'GET', url: `/v1/items?genre=${longText}` },
    status: 400,
    path: 'query.genre',
  },
  {
    name: 'events not an array',
    request: { method: 'POST', url: '/v1/events', ...json({ events: { userId: 'u' } }) },
    status: 400,
    path: 'body.events',
  },
  {
    name: 'events missing',
    request: { method: 'POST', url: '/v1/events', ...json({}) },
    status: 400,
    path: 'body.events',
  },
  {
    name: 'events body of 10 MB',
    request: { method: 'POST', url: '/v1/events', ...json({ events: [{ userId: tenMegabytes }] }) },
    status: 413,
  },
  {
    name: 'user attributes as an array',
    request: put('/v1/users/keep-user', { attributes: [1, 2] }),
    status: 400,
    path: 'body.attributes',
  },
  {
    name: 'user with an unknown field',
    request: put('/v1/users/keep-user', { attributes: {}, email: 'a@b.c' }),
    status: 400,
    path: 'body.email',
  },
  { name: 'unknown route', request: { method: 'GET', url: '/v1/nothing-here' }, status: 404 },
  {
    name: 'wrong method',
    request: { method: 'POST', url: '/v1/items/keep-1', ...json({ title: 'x' }) },
    status: 404,
  },
  { name: 'a 100,000-character path', request: { method: 'GET', url: `/v1/items/${longText}` }, status: 414 },
  { name: 'a malformed URL escape', request: { method: 'GET', url: '/v1/items/%E0%A4%A' }, status: 400 },
];

t.test(
  `${cases.length} malformed requests each get a 4xx problem+json, and change no stored data`,
  async (t) => {
    const { app, inject } = await buildTestApp(t);
    await inject(put('/v1/items/keep-1', { title: 'Keep me', genres: ['drama'] }));
    await inject(put('/v1/users/keep-user', { attributes: { plan: 'free' } }));
    await inject({
      method: 'POST',
      url: '/v1/events',
      ...json({ events: [{ userId: 'keep-user', itemId: 'keep-1', type: 'play' }] }),
    });

    const snapshot = async () => ({
      items: await app.db.selectFrom('items').selectAll().orderBy('id').execute(),
      users: await app.db.selectFrom('users').selectAll().orderBy('id').execute(),
      events: await app.db.selectFrom('events').selectAll().orderBy('seq').execute(),
    });
    const before = await snapshot();
    t.equal(before.items.length, 1);

    for (const testCase of cases) {
      const response = await inject(testCase.request);
      t.equal(response.statusCode, testCase.status, `${testCase.name}: status`);
      t.match(
        response.headers['content-type'],
        /^application\/problem\+json/,
        `${testCase.name}: problem+json`,
      );
      const problem = response.json();
      t.match(
        problem,
        { type: /^urn:marquee:problem:/, title: String, status: testCase.status, detail: String },
        `${testCase.name}: problem fields`,
      );
      if (testCase.path) {
        t.ok(
          problem.errors?.some((error: { path: string }) => error.path === testCase.path),
          `${testCase.name}: names ${testCase.path} (got ${JSON.stringify(problem.errors)})`,
        );
      }
    }

    t.same(await snapshot(), before, 'stored data is unchanged');
    t.equal((await inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'the server is still up');
    t.ok(cases.length >= 30);
  },
);
