import { sql } from 'kysely';
import t from 'tap';
import { importNetflix, netflixAbsent } from '../helpers/netflix.ts';
import { findItemSummaries } from '../../src/repositories/candidates.repository.ts';
import { upsertUserProfiles } from '../../src/repositories/user-profiles.repository.ts';
import { buildTestApp, json, type TestApp } from '../helpers/test-app.ts';

// The netflix catalog takes about a minute to import and embed in embedded mode on a busy 2-core machine.
t.setTimeout(300_000);

const catalog: Record<string, Record<string, unknown>> = {
  st: {
    type: 'series',
    title: 'Stranger Things',
    description:
      'When a young boy vanishes, a small town uncovers a mystery involving secret experiments, terrifying ' +
      'supernatural forces and one strange little girl.',
    genres: ['TV Horror', 'TV Mysteries'],
    maturityRating: 'TV-14',
  },
  stranger: {
    type: 'movie',
    title: 'The Stranger',
    description:
      'A war crimes investigator hunts a fugitive hiding as a teacher in a quiet Connecticut town.',
    genres: ['Thrillers', 'Classic Movies'],
    maturityRating: 'PG',
  },
  upside: {
    type: 'movie',
    title: 'Upside Down',
    description:
      'Strange things happen in a quiet town when a stranger arrives with things nobody can explain.',
    genres: ['Dramas'],
    maturityRating: 'PG-13',
  },
  martian: {
    type: 'movie',
    title: 'The Martian',
    description: 'An astronaut stranded on Mars must survive with what he has until rescue can arrive.',
    genres: ['Sci-Fi Movies', 'Dramas'],
    tags: ['space', 'survival'],
    maturityRating: 'PG-13',
  },
  gravity: {
    type: 'movie',
    title: 'Gravity',
    description: 'Two astronauts work together to survive after an accident leaves them adrift in orbit.',
    genres: ['Sci-Fi Movies', 'Thrillers'],
    tags: ['space'],
    maturityRating: 'PG-13',
  },
  alien: {
    type: 'movie',
    title: 'Alien',
    description: 'The crew of a spacecraft meet a deadly lifeform after answering a distress call.',
    genres: ['Horror Movies', 'Sci-Fi Movies'],
    tags: ['space'],
    maturityRating: 'R',
  },
  bake: {
    type: 'series',
    title: 'The Great Bake Off',
    description: 'Amateur bakers compete in a tent, baking bread, cakes and pastries for the judges.',
    genres: ['Reality TV'],
    maturityRating: 'TV-G',
  },
  chef: {
    type: 'movie',
    title: 'Chef',
    description:
      'A chef who loses his restaurant job starts a food truck and cooks his way across the country.',
    genres: ['Comedies'],
    credits: [{ name: 'Jon Favreau', role: 'director' }],
    maturityRating: 'R',
  },
};

async function searchApp(t: Parameters<typeof buildTestApp>[0]): Promise<TestApp> {
  const testApp = await buildTestApp(t);
  for (const [id, item] of Object.entries(catalog)) {
    const response = await testApp.inject({ method: 'PUT', url: `/v1/items/${id}`, ...json(item) });
    t.equal(response.statusCode, 201, response.body);
  }
  await testApp.app.embedding.idle();
  return testApp;
}

interface Found {
  itemId: string;
  score: number;
  item: { id: string; type: string; genres: string[] };
  reasons: { source: string; detail: string; evidenceItemIds: string[] }[];
}
const ids = (items: Found[]) => items.map((entry) => entry.itemId);

t.test('text and meaning fused: a title match first, each item says why it is there', async (t) => {
  const { inject } = await searchApp(t);
  const search = async (body: Record<string, unknown>) => {
    const response = await inject({ method: 'POST', url: '/v1/search', ...json(body) });
    t.equal(response.statusCode, 200, response.body);
    return response.json<{ searchId: string; items: Found[]; nextCursor: null }>();
  };

  const stranger = await search({ query: 'stranger things' });
  t.match(stranger.searchId, /^[0-9a-f-]{36}$/);
  t.equal(stranger.nextCursor, null);
  t.same(ids(stranger.items).slice(0, 2), ['st', 'upside'], 'the title, then the description match');
  t.equal(
    stranger.items.length,
    Object.keys(catalog).length,
    'the meaning side proposes the rest, ranked below',
  );
  t.same(stranger.items[0]!.reasons, [
    {
      source: 'search',
      detail: 'Matches "stranger things" in the title',
      evidenceItemIds: [],
      query: 'stranger things',
      match: 'title',
    },
    {
      source: 'search',
      detail: 'Close in meaning to "stranger things"',
      evidenceItemIds: [],
      query: 'stranger things',
      match: 'meaning',
    },
  ]);
  t.match(stranger.items[0]!.item, { id: 'st', title: 'Stranger Things', type: 'series' });
  t.same(stranger.items[1]!.reasons.map((reason) => reason.detail).sort(), [
    'Close in meaning to "stranger things"',
    'Matches "stranger things" in the description',
  ]);
  t.same(
    stranger.items.slice(2).map((entry) => entry.reasons),
    stranger.items.slice(2).map(() => [
      {
        source: 'search',
        detail: 'Close in meaning to "stranger things"',
        evidenceItemIds: [],
        query: 'stranger things',
        match: 'meaning',
      },
    ]),
    'items without the words are there for their meaning only',
  );
  const scores = stranger.items.map((entry) => entry.score);
  t.same(
    scores,
    [...scores].sort((a, b) => b - a),
    'scores descend',
  );

  t.same(ids((await search({ query: 'Stranger Things!', limit: 1 })).items), ['st'], 'case and punctuation');
  t.equal(
    (await search({ query: 'favreau' })).items[0]?.reasons[0]?.detail,
    'Matches "favreau" in the cast and crew',
  );
  t.same(
    ids((await search({ query: 'baking' })).items).slice(0, 1),
    ['bake'],
    'English stemming: bakers, baking',
  );
  const space = await search({ query: 'space', limit: 3 });
  t.same(ids(space.items).sort(), ['alien', 'gravity', 'martian'], 'the three tagged space, and only 3');
  t.match(space.items[0]!.reasons, [{ detail: /in the genres and tags|Close in meaning/ }]);
  const cosmos = await search({ query: 'cosmonaut lost in the cosmos', limit: 2 });
  t.same(ids(cosmos.items).sort(), ['gravity', 'martian'], 'no word in common, close in meaning');
});

t.test('the stored search document follows every write of an item', async (t) => {
  const { inject, database } = await searchApp(t);
  const textMatches = async (query: string) => {
    const response = await inject({ method: 'POST', url: '/v1/search', ...json({ query, limit: 5 }) });
    return (response.json().items as Found[])
      .filter((entry) => entry.reasons.some((reason) => reason.detail.startsWith('Matches')))
      .map((entry) => entry.itemId);
  };
  const documents = async () =>
    (
      await database.db.selectFrom('item_search_documents').select('item_id').orderBy('item_id').execute()
    ).map((row) => row.item_id);
  t.same(await documents(), Object.keys(catalog).sort(), 'one document per item');

  // A merge patch of the title: the old words no longer find it, the new ones do.
  await inject({
    method: 'PATCH',
    url: '/v1/items/bake',
    headers: { 'content-type': 'application/merge-patch+json' },
    payload: JSON.stringify({ title: 'Pottery Throw Down' }),
  });
  t.ok((await textMatches('pottery throw')).includes('bake'), 'found by its new title');
  t.notOk((await textMatches('great bake')).includes('bake'), 'not by its old one');

  // A full replace that moves the words into the credits.
  await inject({
    method: 'PUT',
    url: '/v1/items/chef',
    ...json({
      ...catalog.chef,
      title: 'Food Truck',
      credits: [{ name: 'Zelda Quokkaberg', role: 'director' }],
    }),
  });
  t.same(await textMatches('quokkaberg'), ['chef'], 'found by a new name in its credits');
  t.same(await textMatches('favreau'), [], 'the old credit is gone');

  // Deleted: its document goes with it.
  t.equal((await inject({ method: 'DELETE', url: '/v1/items/alien' })).statusCode, 204);
  t.notOk((await documents()).includes('alien'));
});

t.test('filters hold on both the text and the meaning side', async (t) => {
  const { inject } = await searchApp(t);
  const search = async (filters: Record<string, unknown>, query = 'stranger things') => {
    const response = await inject({ method: 'POST', url: '/v1/search', ...json({ query, filters }) });
    t.equal(response.statusCode, 200, response.body);
    return response.json().items as Found[];
  };
  const movies = await search({ types: ['movie'] });
  t.ok(movies.every((entry) => entry.item.type === 'movie'));
  t.same(ids(movies).slice(0, 1), ['upside'], 'the series is left out, the movie matching words comes first');
  t.same(ids(movies).sort(), ['alien', 'chef', 'gravity', 'martian', 'stranger', 'upside']);

  const noHorror = await search({ excludeGenres: ['TV Horror', 'Horror Movies'] });
  t.notOk(ids(noHorror).includes('st'));
  t.notOk(ids(noHorror).includes('alien'));
  t.equal(noHorror.length, 6);

  const pg13 = await search({ maxMaturityRating: 'PG-13', genres: ['Sci-Fi Movies'] }, 'space');
  t.same(ids(pg13).sort(), ['gravity', 'martian'], 'R-rated Alien is left out');
});

t.test(
  "a known user's taste reorders the matches without pushing out what the query asked for",
  async (t) => {
    const { inject, database } = await searchApp(t);
    t.equal((await inject({ method: 'PUT', url: '/v1/users/space-fan', ...json({}) })).statusCode, 201);
    const embeddings = await findItemSummaries(database.db, ['alien', 'bake'], { withEmbeddings: true });
    const interest = (itemId: string, weight: number) => ({
      vector: Array.from(embeddings.get(itemId)!.embedding!),
      weight,
      itemIds: [itemId],
    });
    await upsertUserProfiles(database.db, [
      {
        userId: 'space-fan',
        // The lighter interest (baking) is not the one search uses.
        profile: { interests: [interest('bake', 0.2), interest('alien', 3)], negative: null, history: [] },
        embeddingModel: 'marquee-local-v1',
        eventsSeen: 3,
        lastEventAt: new Date(),
      },
    ]);
    const search = async (body: Record<string, unknown>) => {
      const response = await inject({ method: 'POST', url: '/v1/search', ...json(body) });
      t.equal(response.statusCode, 200, response.body);
      return response.json().items as Found[];
    };

    const anonymous = await search({ query: 'town' });
    const personal = await search({ query: 'town', userId: 'space-fan' });
    const textMatches = ['st', 'stranger', 'upside'];
    t.same(ids(anonymous).slice(0, 3).sort(), textMatches);
    t.same(ids(personal).slice(0, 3).sort(), textMatches, 'the items with the words stay on top');
    t.same(ids(personal).sort(), ids(anonymous).sort(), 'the same matches, reordered');
    t.ok(
      ids(personal).indexOf('alien') < ids(anonymous).indexOf('alien'),
      `the space horror moves up (${ids(anonymous).indexOf('alien')} → ${ids(personal).indexOf('alien')})`,
    );
    const raised = ids(personal).filter((id, index) => index < ids(anonymous).indexOf(id));
    t.ok(raised.includes('alien'));
    const tasteReasons = personal.flatMap((entry) =>
      entry.reasons
        .filter((reason) => reason.source === 'vector')
        .map((reason) => ({ ...reason, id: entry.itemId })),
    );
    t.same(
      tasteReasons,
      raised.map((id) => ({
        source: 'vector',
        detail: 'Close to your taste',
        evidenceItemIds: ['alien'],
        id,
      })),
      'the items the heaviest interest moved up, and only those, say so',
    );
    t.notOk(
      anonymous.some((entry) => entry.reasons.some((reason) => reason.source === 'vector')),
      'no taste without a user',
    );

    const exact = await search({ query: 'stranger things', userId: 'space-fan' });
    t.equal(exact[0]?.itemId, 'st', 'a title typed in full stays first whatever the taste');
    const unknown = await search({ query: 'town', userId: 'nobody-known' });
    t.same(ids(unknown), ids(anonymous), 'a user without a profile gets the anonymous order');
  },
);

t.test('personalising needs client or admin, or the same user token', async (t) => {
  const { inject } = await searchApp(t);
  const keyFor = async (scopes: string[]) =>
    (
      await inject({ method: 'POST', url: '/v1/admin/keys', ...json({ name: scopes.join('+'), scopes }) })
    ).json().key as string;
  const tokenFor = async (userId: string) =>
    (await inject({ method: 'POST', url: '/v1/admin/user-tokens', ...json({ userId }) })).json()
      .token as string;
  const [read, ingest, client, aliceToken] = [
    await keyFor(['read']),
    await keyFor(['ingest']),
    await keyFor(['client']),
    await tokenFor('alice'),
  ];
  const search = (credential: string, body: Record<string, unknown>) => {
    const request = json(body);
    return inject({
      method: 'POST',
      url: '/v1/search',
      ...request,
      headers: { ...request.headers, authorization: `Bearer ${credential}` },
    });
  };
  t.equal((await search(read, { query: 'town' })).statusCode, 200, 'anyone may search');
  t.equal((await search(ingest, { query: 'town' })).statusCode, 200);
  for (const [name, credential] of [
    ['read', read],
    ['ingest', ingest],
  ] as const) {
    const refused = await search(credential, { query: 'town', userId: 'alice' });
    t.equal(refused.statusCode, 403, `a ${name} key may not personalise`);
    t.match(refused.json(), { type: 'urn:marquee:problem:forbidden', detail: /body\.userId/ });
  }
  t.equal((await search(client, { query: 'town', userId: 'alice' })).statusCode, 200, 'a client key may');
  t.equal(
    (await inject({ method: 'POST', url: '/v1/search', ...json({ query: 'town', userId: 'a' }) })).statusCode,
    200,
    'admin',
  );
  t.equal(
    (await search(aliceToken, { query: 'town', userId: 'alice' })).statusCode,
    200,
    "alice's token for alice",
  );
  t.equal(
    (await search(aliceToken, { query: 'town', userId: 'bob' })).statusCode,
    403,
    "alice's token for bob",
  );
  t.equal((await search(aliceToken, { query: 'town' })).statusCode, 403, 'a token names its user');
  t.equal((await search(aliceToken, { query: '' })).statusCode, 403, 'before validation');
});

t.test('bad requests are 400 problems naming the field', async (t) => {
  const { inject } = await buildTestApp(t);
  for (const [body, field] of [
    [{ query: '' }, 'body.query'],
    [{ query: '   ' }, 'body.query'],
    [{ query: 'x'.repeat(501) }, 'body.query'],
    [{}, 'body.query'],
    [{ query: 'town', limit: 0 }, 'body.limit'],
    [{ query: 'town', limit: 101 }, 'body.limit'],
    [{ query: 'town', limit: 2.5 }, 'body.limit'],
    [{ query: 'town', filters: { maxMaturityRating: 'XYZ' } }, 'body.filters.maxMaturityRating'],
    [{ query: 'town', filters: { types: ['Movie'] } }, 'body.filters.types'],
    [{ query: 'town', filters: { yearFrom: 2020, yearTo: 2000 } }, 'body.filters.yearTo'],
    [{ query: 'town', filters: { colour: 'red' } }, 'body.filters'],
    [{ query: 'town', userId: 'not an id' }, 'body.userId'],
    [{ query: 'town', sort: 'title' }, 'body'],
  ] as const) {
    const response = await inject({ method: 'POST', url: '/v1/search', ...json(body) });
    t.equal(response.statusCode, 400, `${JSON.stringify(body).slice(0, 80)}: ${response.body}`);
    t.match(response.headers['content-type'], /problem\+json/);
    t.match(
      response.json().errors,
      [{ path: new RegExp(`^${field.replace(/\./g, '\\.')}`) }],
      `names ${field}`,
    );
  }
});

t.test(
  'netflix: "stranger things" finds Stranger Things first, through the search index',
  { skip: netflixAbsent },
  async (t) => {
    const { inject, database } = await buildTestApp(t);
    await importNetflix(t, inject);

    const response = await inject({
      method: 'POST',
      url: '/v1/search',
      ...json({ query: 'stranger things' }),
    });
    t.equal(response.statusCode, 200, response.body);
    const items = response.json().items as (Found & { item: { title: string } })[];
    t.equal(items.length, 20);
    t.equal(items[0]?.item.title, 'Stranger Things');
    t.equal(items[0]?.reasons[0]?.detail, 'Matches "stranger things" in the title');

    const movies = await inject({
      method: 'POST',
      url: '/v1/search',
      ...json({ query: 'stranger things', filters: { types: ['movie'], excludeGenres: ['Horror Movies'] } }),
    });
    const movieItems = movies.json().items as Found[];
    t.equal(movieItems.length, 20);
    t.ok(
      movieItems.every(
        (entry) => entry.item.type === 'movie' && !entry.item.genres.includes('Horror Movies'),
      ),
    );

    await sql`ANALYZE items`.execute(database.db);
    // At 8,800 items the planner may well scan the stored documents (a few ms); what must hold is that the
    // index answers the query, so that it does on a large catalog.
    const plan = await database.db.transaction().execute(async (trx) => {
      await sql`SET LOCAL enable_seqscan = off`.execute(trx);
      return sql<{ 'QUERY PLAN': string }>`EXPLAIN SELECT item_id FROM item_search_documents
        WHERE document @@ websearch_to_tsquery('english', ${'stranger things'}::text)`.execute(trx);
    });
    t.match(
      plan.rows.map((row) => row['QUERY PLAN']).join('\n'),
      /item_search_documents_document_idx/,
      'the stored documents can be searched through their index',
    );
  },
);
