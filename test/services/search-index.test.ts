import t from 'tap';
import { findTextMatches } from '../../src/repositories/search.repository.ts';
import { startSearchIndex } from '../../src/services/search-index.service.ts';
import { buildTestApp, json, type TestApp } from '../helpers/test-app.ts';

const WORDS = [
  'pirate',
  'island',
  'storm',
  'robot',
  'kitchen',
  'detective',
  'winter',
  'dragon',
  'ocean',
  'train',
];

/** 120 items whose titles, genres, credits and descriptions draw on a small vocabulary (many matches each). */
async function seed({ inject }: TestApp): Promise<void> {
  for (let at = 0; at < 120; at++) {
    const word = (offset: number) => WORDS[(at * 7 + offset * 3) % WORDS.length]!;
    const item = {
      type: 'movie',
      title: `${word(0)} ${at % 3 === 0 ? word(1) : 'tale'} ${at}`,
      description: `A ${word(2)} meets a ${word(3)} by the ${word(4)}; then a ${word(5)}.`,
      genres: [at % 2 === 0 ? 'Dramas' : 'Comedies'],
      credits: [{ name: `${word(6)} Smith`, role: 'director' }],
    };
    const id = `item-${String(at).padStart(3, '0')}`;
    const response = await inject({ method: 'PUT', url: `/v1/items/${id}`, ...json(item) });
    if (response.statusCode >= 300) throw new Error(`seed failed: ${response.statusCode} ${response.body}`);
  }
}

async function held(testApp: TestApp): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!testApp.app.searchIndex.status().held) {
    if (Date.now() > deadline)
      throw new Error(`search index not held: ${testApp.app.searchIndex.status().reason}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test(
  'the in-memory search index matches exactly what Postgres matches, catches up with writes before it ' +
    'answers, and leaves phrases to Postgres',
  async (t) => {
    const testApp = await buildTestApp(t);
    await seed(testApp);
    await held(testApp);
    const { searchIndex } = testApp.app;
    const queries = ['pirate island', 'storm', 'robot or dragon', 'ocean -kitchen', 'smith winter', 'tale'];
    for (const query of queries) {
      const fromMemory = await searchIndex.matches(query, 1_000);
      const fromSql = await findTextMatches(testApp.app.db, query, { limit: 1_000, filters: {} });
      t.ok(fromMemory, `${query}: answered from memory`);
      t.ok(fromSql.length > 0, `${query}: matches something`);
      t.same(
        fromMemory!.map((match) => match.itemId).sort(),
        fromSql.map((match) => match.itemId).sort(),
        `${query}: the same items as Postgres`,
      );
      const flags = (match: {
        inTitle: boolean;
        inCredits: boolean;
        inLabels: boolean;
        inDescription: boolean;
      }) => [match.inTitle, match.inCredits, match.inLabels, match.inDescription].join();
      const sqlFlags = new Map(fromSql.map((match) => [match.itemId, flags(match)]));
      t.ok(
        fromMemory!.every((match) => sqlFlags.get(match.itemId) === flags(match)),
        `${query}: the same fields match`,
      );
    }
    t.same(await searchIndex.matches('the of and', 10), [], 'stop words only: nothing, as in SQL');
    t.equal(await searchIndex.matches('"pirate island"', 10), undefined, 'a phrase is left to Postgres');

    // A write is seen by the next search, without waiting for a poll.
    const written = await testApp.inject({
      method: 'PUT',
      url: '/v1/items/zeppelin',
      ...json({ type: 'movie', title: 'Zeppelin Harbour', description: 'An airship over a pirate island.' }),
    });
    t.equal(written.statusCode, 201);
    t.match(await searchIndex.matches('zeppelin', 10), [{ itemId: 'zeppelin', inTitle: true }]);
    const search = await testApp.inject({
      method: 'POST',
      url: '/v1/search',
      ...json({ query: 'zeppelin harbour', limit: 3 }),
    });
    t.equal(search.json().items[0]?.itemId, 'zeppelin', 'the search route finds it at once');

    // An item deleted since is not answered (its row is gone), and a new title replaces the old words.
    t.equal((await testApp.inject({ method: 'DELETE', url: '/v1/items/item-000' })).statusCode, 204);
    const afterDelete = await testApp.inject({
      method: 'POST',
      url: '/v1/search',
      ...json({ query: 'pirate', limit: 100 }),
    });
    t.notOk(afterDelete.json().items.some((item: { itemId: string }) => item.itemId === 'item-000'));
    await testApp.inject({
      method: 'PATCH',
      url: '/v1/items/zeppelin',
      headers: { 'content-type': 'application/merge-patch+json' },
      payload: JSON.stringify({ title: 'Blimp Harbour' }),
    });
    t.same(await searchIndex.matches('zeppelin', 10), [], 'the old title no longer matches');
    t.match(await searchIndex.matches('blimp', 10), [{ itemId: 'zeppelin' }]);

    const models = await testApp.inject({ method: 'GET', url: '/v1/admin/models' });
    t.match(models.json().inMemory.searchIndex, { held: true, reason: null });
    t.ok(models.json().inMemory.searchIndex.items >= 120);
  },
);

t.test(
  'with the catalog version the caller read, a query parsed before is answered without a round trip while ' +
    'that version holds (at most a second); a new version asks Postgres and sees the writes',
  async (t) => {
    const testApp = await buildTestApp(t);
    await seed(testApp);
    let statements = 0;
    const counted = testApp.app.db.withPlugin({
      transformQuery: (args) => {
        statements++;
        return args.node;
      },
      transformResult: (args) => Promise.resolve(args.result),
    });
    const searchIndex = startSearchIndex({
      db: counted,
      memoryAvailableBytes: () => 64 * 1_048_576,
      logger: { info: () => {}, warn: () => {} },
    });
    t.teardown(() => searchIndex.stop());
    const deadline = Date.now() + 20_000;
    while (!searchIndex.status().held && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    t.ok(searchIndex.status().held);

    const first = await searchIndex.matches('pirate island', 1_000, 'v1');
    const before = statements;
    const again = await searchIndex.matches('pirate island', 1_000, 'v1');
    t.equal(statements, before, 'the same query under the same version: no statement');
    t.same(again, first);
    await searchIndex.matches('storm', 10, 'v1');
    t.equal(statements, before + 1, 'a query not parsed before: one statement');

    await testApp.inject({
      method: 'PUT',
      url: '/v1/items/zeppelin',
      ...json({ type: 'movie', title: 'Zeppelin Island', description: 'A pirate airship.' }),
    });
    t.notOk(
      (await searchIndex.matches('pirate island', 1_000, 'v1'))!.some((match) => match.itemId === 'zeppelin'),
      'the version the write bumps is not this one yet',
    );
    t.ok(
      (await searchIndex.matches('pirate island', 1_000, 'v2'))!.some((match) => match.itemId === 'zeppelin'),
      'the new version sees the write',
    );
    const checked = statements;
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await searchIndex.matches('pirate island', 1_000, 'v2');
    t.ok(
      statements > checked,
      'after a second, the same version asks again (a bulk import bumps it at its end)',
    );
    t.equal(
      await searchIndex.matches('"pirate island"', 10, 'v2'),
      undefined,
      'phrases still go to Postgres',
    );
  },
);

t.test('with MARQUEE_MODEL_MEMORY_MB=0 nothing is held and searches run in Postgres', async (t) => {
  const testApp = await buildTestApp(t, { env: { MARQUEE_MODEL_MEMORY_MB: '0' } });
  await seed(testApp);
  t.equal(await testApp.app.searchIndex.matches('pirate', 10), undefined);
  t.match(testApp.app.searchIndex.status(), { held: false });
  const search = await testApp.inject({
    method: 'POST',
    url: '/v1/search',
    ...json({ query: 'pirate island' }),
  });
  t.equal(search.statusCode, 200);
  t.ok(search.json().items.length > 0);
});
