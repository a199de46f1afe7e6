import type { AddressInfo } from 'node:net';
import t from 'tap';
import {
  createMarqueeClient,
  type EventWriteInput,
  type ItemWriteInput,
  type MarqueeClient,
  type Problem,
  type RecommendationPage,
  type RecommendedItem,
} from '../../clients/typescript/src/index.ts';
import { buildTestApp, TEST_ADMIN_KEY, type TestApp } from '../helpers/test-app.ts';

// The typed client in clients/typescript against the real API listening on a port: what a frontend sees.

const catalog: Record<string, ItemWriteInput> = {
  martian: {
    type: 'movie',
    title: 'The Martian',
    description:
      'An astronaut stranded on Mars must survive on the red planet until a rescue mission arrives.',
    genres: ['Sci-Fi'],
    tags: ['space'],
  },
  gravity: {
    type: 'movie',
    title: 'Gravity',
    description:
      'Two astronauts adrift in orbit after their space shuttle is destroyed try to reach a station.',
    genres: ['Sci-Fi'],
    tags: ['space'],
  },
  interstellar: {
    type: 'movie',
    title: 'Interstellar',
    description:
      'Astronauts travel through a wormhole to find a new planet for humanity among distant stars.',
    genres: ['Sci-Fi'],
    tags: ['space'],
  },
  apollo: {
    type: 'movie',
    title: 'Apollo 13',
    description: 'Astronauts on a crippled spacecraft fight to return to Earth after an explosion in space.',
    genres: ['Sci-Fi'],
    tags: ['space'],
  },
  bake: {
    type: 'series',
    title: 'The Great Bake Off',
    description: 'Amateur bakers compete in a tent, baking bread, cakes and pastries for the judges.',
    genres: ['Reality TV'],
    tags: ['baking'],
  },
  pastry: {
    type: 'series',
    title: 'Pastry School',
    description: 'Young pastry chefs learn to bake croissants, tarts and cakes in a Paris kitchen.',
    genres: ['Reality TV'],
    tags: ['baking'],
  },
  heist: {
    type: 'movie',
    title: 'The Heist',
    description: 'A crew of thieves plans a bank robbery while a detective closes in on the gang.',
    genres: ['Thrillers'],
  },
  detective: {
    type: 'movie',
    title: 'The Detective',
    description: 'A police detective hunts a serial killer through the city before he strikes again.',
    genres: ['Thrillers'],
  },
};
const SPACE = ['martian', 'gravity', 'interstellar', 'apollo'];

interface Server extends TestApp {
  baseUrl: string;
  admin: MarqueeClient;
}

/** The whole API listening on an ephemeral port, with the catalog, a crowd's events and trained models. */
async function startServer(t: Parameters<typeof buildTestApp>[0]): Promise<Server> {
  const api = await buildTestApp(t);
  await api.app.listen({ port: 0, host: '127.0.0.1' });
  const baseUrl = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
  const admin = createMarqueeClient({ baseUrl, apiKey: TEST_ADMIN_KEY });

  for (const [itemId, item] of Object.entries(catalog)) {
    const { data, response } = await admin.PUT('/v1/items/{itemId}', {
      params: { path: { itemId } },
      body: item,
    });
    if (response.status !== 201) throw new Error(`PUT ${itemId}: ${response.status}`);
    t.equal(data?.id, itemId);
  }
  await api.app.embedding.idle();

  // Each crowd user watches all of one genre; more people watch space than baking, and baking than crime.
  const now = Date.now();
  const crowd: [string[], number][] = [
    [SPACE, 4],
    [['bake', 'pastry'], 2],
    [['heist', 'detective'], 1],
  ];
  const events: EventWriteInput[] = crowd.flatMap(([itemIds, users], genre) =>
    Array.from({ length: users }, (_, u) =>
      itemIds.map((itemId, n) => ({
        userId: `crowd-${genre}-${u}`,
        itemId,
        type: 'complete' as const,
        timestamp: new Date(now - (n + 1) * 60_000).toISOString(),
      })),
    ).flat(),
  );
  const posted = await admin.POST('/v1/events', { body: { events } });
  if (posted.error) throw new Error(posted.error.detail);
  t.same(posted.data, { accepted: events.length, duplicates: 0, rejected: [] });
  const trained = await admin.POST('/v1/admin/models/train');
  if (trained.error) throw new Error(trained.error.detail);
  t.equal(trained.data.events, events.length, 'the models saw every event');
  return { ...api, baseUrl, admin };
}

const ids = (items: RecommendedItem[]) => items.map((entry) => entry.itemId);

t.test('the typed client against a running server', async (t) => {
  const server = await startServer(t);
  const { admin, baseUrl } = server;

  const created = await admin.POST('/v1/admin/keys', { body: { name: 'web frontend', scopes: ['client'] } });
  if (created.error) throw new Error(created.error.detail);
  t.same(created.data.apiKey.scopes, ['client']);
  t.match(created.data.key, /^mq_/);
  const client = createMarqueeClient({ baseUrl, apiKey: created.data.key });

  await t.test('recommendations for a user follow what they watched', async (t) => {
    const watched = await client.POST('/v1/events', {
      body: {
        events: ['martian', 'gravity'].map((itemId) => ({
          userId: 'fan',
          itemId,
          type: 'complete' as const,
        })),
      },
    });
    t.equal(watched.data?.accepted, 2);

    const { data, error, response } = await client.GET('/v1/users/{userId}/recommendations', {
      params: { path: { userId: 'fan' }, query: { limit: 3, diversity: 0 } },
    });
    t.equal(response.status, 200);
    t.equal(error, undefined);
    if (!data) return t.fail('no page');
    const page: RecommendationPage = data;
    t.match(page.recommendationId, /^[0-9a-f-]{36}$/);
    t.equal(page.items.length, 3);
    t.same(
      ids(page.items).slice(0, 2).sort(),
      ['apollo', 'interstellar'],
      'the two space films not yet watched come first',
    );
    t.notOk(
      ids(page.items).some((itemId) => itemId === 'martian' || itemId === 'gravity'),
      'watched items are not recommended',
    );
    t.ok(page.items[0]!.reasons.length > 0, 'each item says why it is there');
    t.equal(page.items[0]!.item.id, page.items[0]!.itemId, 'each item carries the catalog entry');
  });

  await t.test('similar items', async (t) => {
    const { data } = await client.GET('/v1/items/{itemId}/similar', {
      params: { path: { itemId: 'martian' }, query: { limit: 3 } },
    });
    if (!data) return t.fail('no page');
    t.equal(data.items.length, 3);
    t.notOk(ids(data.items).includes('martian'), 'not the item itself');
    t.ok(
      data.items.every((entry) => entry.item.genres.includes('Sci-Fi')),
      `all space films: ${ids(data.items).join(', ')}`,
    );
  });

  await t.test('search', async (t) => {
    const { data } = await client.POST('/v1/search', { body: { query: 'baking', limit: 2 } });
    if (!data) return t.fail('no results');
    t.same(ids(data.items).sort(), ['bake', 'pastry']);
    t.match(data.items[0]!.reasons[0], { source: 'search' });
    t.match(data.items[0]!.item, { type: 'series', genres: ['Reality TV'] });
  });

  await t.test('trending', async (t) => {
    // Trained again, so that the fan's two films count one viewer more than the other space films.
    t.equal((await admin.POST('/v1/admin/models/train')).response.status, 200);
    const { data } = await client.GET('/v1/trending', { params: { query: { window: 'week', limit: 10 } } });
    if (!data) return t.fail('no page');
    t.equal(data.window, 'week');
    t.same(
      ids(data.items).slice(0, 2).sort(),
      ['gravity', 'martian'],
      'the space films the fan watched too lead',
    );
    t.same(ids(data.items).slice(-2).sort(), ['detective', 'heist'], 'the least watched come last');
    t.match(data.items[0]!.reasons, [{ source: 'trending', detail: /Trending this week: 5 viewers/ }]);
  });

  await t.test('a 404 is a typed problem in `error`', async (t) => {
    const { data, error, response } = await client.GET('/v1/items/{itemId}', {
      params: { path: { itemId: 'no-such-item' } },
    });
    t.equal(data, undefined);
    t.equal(response.status, 404);
    t.match(response.headers.get('content-type'), /^application\/problem\+json/);
    if (!error) return t.fail('no error');
    const problem: Problem = error;
    t.match(problem, { type: 'urn:marquee:problem:not-found', status: 404, title: 'Not found' });
    t.match(problem.detail, /no-such-item/);
    t.equal(problem.requestId, response.headers.get('x-request-id'));
  });

  await t.test('a 400 names the bad field', async (t) => {
    const { error, response } = await client.GET('/v1/users/{userId}/recommendations', {
      params: { path: { userId: 'fan' }, query: { limit: 1000 } },
    });
    t.equal(response.status, 400);
    t.equal(error?.type, 'urn:marquee:problem:validation');
    t.match(error?.errors, [{ path: 'query.limit' }]);

    const search = await client.POST('/v1/search', { body: { query: '' } });
    t.equal(search.error?.status, 400);
    t.match(search.error?.errors, [{ path: 'body.query' }]);
  });

  await t.test('auth: API keys, the admin key and user tokens go in the Authorization header', async (t) => {
    const anonymous = createMarqueeClient({ baseUrl });
    const refused = await anonymous.GET('/v1/items/{itemId}', { params: { path: { itemId: 'martian' } } });
    t.equal(refused.response.status, 401);
    t.equal(refused.error?.type, 'urn:marquee:problem:unauthorized');
    t.equal(refused.response.headers.get('www-authenticate'), 'Bearer realm="marquee"');

    const wrong = createMarqueeClient({ baseUrl, apiKey: `mq_00000000_${'A'.repeat(43)}` });
    const unknown = await wrong.GET('/v1/items/{itemId}', { params: { path: { itemId: 'martian' } } });
    t.equal(unknown.error?.status, 401);

    // A client key reads the catalog but may not write it or manage keys; the admin key may.
    const read = await client.GET('/v1/items/{itemId}', { params: { path: { itemId: 'martian' } } });
    t.equal(read.data?.title, 'The Martian');
    const write = await client.PATCH('/v1/items/{itemId}', {
      params: { path: { itemId: 'martian' } },
      body: { title: 'Changed' },
    });
    t.equal(write.error?.type, 'urn:marquee:problem:forbidden');
    t.equal((await client.GET('/v1/admin/keys')).response.status, 403);
    const keys = await admin.GET('/v1/admin/keys');
    t.ok(
      keys.data?.keys.some((key) => key.name === 'web frontend'),
      'the admin key lists the keys it made',
    );

    // What goes on the wire, through the fetch option: the credential, unless a call sets its own header.
    const sent: (string | null)[] = [];
    const recording = createMarqueeClient({
      baseUrl: `${baseUrl}/`,
      apiKey: async () => created.data.key,
      fetch: (request) => {
        sent.push(request.headers.get('authorization'));
        return fetch(request);
      },
    });
    t.equal((await recording.GET('/v1/trending')).response.status, 200, 'a function credential');
    const overridden = await recording.GET('/v1/trending', {
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
    });
    t.equal(overridden.response.status, 200);
    t.same(sent, [`Bearer ${created.data.key}`, `Bearer ${TEST_ADMIN_KEY}`]);

    // A user token, minted by the frontend's backend with its client key, for the browser.
    const minted = await client.POST('/v1/admin/user-tokens', { body: { userId: 'fan' } });
    if (minted.error) throw new Error(minted.error.detail);
    t.equal(minted.data.userId, 'fan');
    const browser = createMarqueeClient({ baseUrl, userToken: minted.data.token });
    const own = await browser.GET('/v1/users/{userId}/recommendations', {
      params: { path: { userId: 'fan' }, query: { limit: 2, diversity: 0 } },
    });
    t.same(ids(own.data?.items ?? []).sort(), ['apollo', 'interstellar'], "the user's own recommendations");
    const played = await browser.POST('/v1/events', {
      body: { events: [{ userId: 'fan', itemId: 'apollo', type: 'play' }] },
    });
    t.equal(played.data?.accepted, 1, 'and their own events');
    const foreign = await browser.GET('/v1/users/{userId}/recommendations', {
      params: { path: { userId: 'crowd-0-0' } },
    });
    t.equal(foreign.error?.type, 'urn:marquee:problem:forbidden', "not another user's");

    t.throws(
      () => createMarqueeClient({ baseUrl, apiKey: 'mq_x', userToken: 'jwt' }),
      TypeError,
      'an API key or a user token, not both',
    );
  });
});
