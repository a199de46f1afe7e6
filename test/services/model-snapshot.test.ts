import { sql } from 'kysely';
import pgvector from 'pgvector';
import t, { type Test } from 'tap';
import { findNearestItems } from '../../src/repositories/candidates.repository.ts';
import { findItemNeighbours } from '../../src/repositories/model-data.repository.ts';
import { type ModelSnapshot, startModelSnapshot } from '../../src/services/model-snapshot.service.ts';
import { buildTestApp, json, type TestApp } from '../helpers/test-app.ts';
import { until } from '../helpers/wait.ts';

// Issue 20: each process holds the neighbour lists and item vectors in memory, a cache of the database that
// follows trainings, erasures and new vectors. Both modes (CI runs the suite embedded and served).

t.setTimeout(180_000);

const quiet = { info: () => {}, warn: () => {} };
// Only when asked: trainings happen where the test says.
const ON_REQUEST = { MARQUEE_MODEL_REFRESH_MINUTES: '0' };

async function seed(test: TestApp) {
  for (const [id, title] of [
    ['inception', 'Inception, a heist inside dreams'],
    ['paddington', 'Paddington, a bear in London'],
    ['heat', 'Heat, a heist in Los Angeles'],
    ['amelie', 'Amelie, a shy waitress in Paris'],
  ]) {
    const response = await test.inject({ method: 'PUT', url: `/v1/items/${id}`, ...json({ title }) });
    if (response.statusCode !== 201) throw new Error(response.body);
  }
  // Only "solo" watched inception and paddington together.
  const events = [
    { userId: 'solo', itemId: 'inception', type: 'complete' },
    { userId: 'solo', itemId: 'paddington', type: 'complete' },
  ];
  for (const n of [1, 2, 3]) {
    events.push({ userId: `a${n}`, itemId: 'inception', type: 'complete' });
    events.push({ userId: `a${n}`, itemId: 'heat', type: 'complete' });
    events.push({ userId: `b${n}`, itemId: 'paddington', type: 'complete' });
    events.push({ userId: `b${n}`, itemId: 'amelie', type: 'complete' });
  }
  const posted = await test.inject({ method: 'POST', url: '/v1/events', ...json({ events }) });
  if (posted.json().accepted !== events.length) throw new Error(posted.body);
  // The vectors are written by the embedder (a job when served): wait for them.
  await until(async () => {
    const rows = await test.database.db.selectFrom('item_embeddings').select('item_id').execute();
    return rows.length === 4 ? true : undefined;
  }, 'the four item vectors');
}

async function train(test: TestApp) {
  const response = await test.inject({ method: 'POST', url: '/v1/admin/models/train' });
  if (response.statusCode !== 200) throw new Error(response.body);
}

/** Every list the model holds equals the database's. */
async function sameListsAsDatabase(t: Test, test: TestApp, model: ModelSnapshot, when: string) {
  const ids = ['inception', 'paddington', 'heat', 'amelie'];
  const stored = await findItemNeighbours(test.database.db, ids);
  for (const id of ids) {
    const held = model.neighbourLists?.get(id);
    const row = stored.get(id);
    const expected = row && row.neighbourIds.length > 0 ? row : undefined;
    t.same(held?.neighbourIds, expected?.neighbourIds, `${when}: ${id}'s neighbours`);
    held?.scores.forEach((score, at) =>
      t.ok(Math.abs(score - expected!.scores[at]!) < 1e-6, `${when}: ${id}'s score ${at}`),
    );
  }
}

t.test(
  'the lists and vectors a process holds are the database’s, through a training and an erasure',
  async (t) => {
    const test = await buildTestApp(t, { env: ON_REQUEST });
    const model = test.app.recommender.model!;
    await seed(test);
    await train(test);
    t.match(model.status(), { neighbourLists: { held: true, reason: null }, itemVectors: { held: true } });
    t.ok(model.neighbourLists?.get('inception')?.neighbourIds.includes('paddington'), 'the pair solo made');
    await sameListsAsDatabase(t, test, model, 'after the training');

    const stored = await test.database.db
      .selectFrom('item_embeddings')
      .select(['item_id', 'embedding'])
      .where('item_id', '=', 'heat')
      .executeTakeFirstOrThrow();
    const expected = pgvector.fromSql(stored.embedding) as number[];
    const held = (await model.vectorsOf(['heat', 'no-such-item'])).get('heat')!;
    t.equal(held.length, expected.length);
    t.ok(
      expected.every((value, d) => Math.abs(value - held[d]!) < 0.01),
      'the vector, within int8 quantization',
    );
    t.equal((await model.vectorsOf(['no-such-item'])).size, 0, 'an item without a vector has none');

    // The vector index answers as pgvector does.
    await model.settled();
    t.match(model.status().vectorIndex, { held: true, items: 4 });
    const query = Float32Array.from(expected);
    const nearest = model.nearest(query, { limit: 3, excludeIds: ['heat'] })!;
    const exact = await findNearestItems(test.database.db, query, {
      limit: 3,
      filters: {},
      excludeIds: ['heat'],
    });
    t.same(
      nearest.map((entry) => entry.itemId),
      exact.map((entry) => entry.itemId),
      'the same items, in the same order',
    );
    nearest.forEach((entry, at) =>
      t.ok(Math.abs(entry.similarity - exact[at]!.similarity) < 0.02, `similarity of ${entry.itemId}`),
    );
    t.same(
      model.nearest(new Float32Array(3), { limit: 3, excludeIds: [] }),
      undefined,
      'another space: ask pgvector',
    );

    // The erasure edits two lists in place; the process that erases has them at once.
    t.equal((await test.inject({ method: 'DELETE', url: '/v1/users/solo' })).statusCode, 204);
    t.notOk(model.neighbourLists?.get('inception')?.neighbourIds.includes('paddington'), 'the pair is gone');
    t.notOk(model.neighbourLists?.get('paddington')?.neighbourIds.includes('inception'));
    t.ok(model.neighbourLists?.get('inception')?.neighbourIds.includes('heat'), 'pairs others made stay');
    await sameListsAsDatabase(t, test, model, 'after the erasure');
  },
);

t.test('another process follows a training, an erasure and a new vector within its poll', async (t) => {
  const test = await buildTestApp(t, { env: ON_REQUEST });
  await seed(test);
  // Another process's copy: the same database, its own poll.
  const other = startModelSnapshot({ db: test.database.db, memoryLimitBytes: 64 * 1_048_576, logger: quiet });
  t.teardown(() => other.stop());
  let changes = 0;
  const watched = startModelSnapshot({
    db: test.database.db,
    memoryLimitBytes: 64 * 1_048_576,
    logger: quiet,
    poll: false,
    onNeighboursChanged: () => void changes++,
  });
  t.teardown(() => watched.stop());
  await watched.refresh();
  t.equal(changes, 0, 'the first load is no change: pages were made from the same lists');
  await watched.refresh();
  t.equal(changes, 0, 'nothing changed: no reload');

  await train(test);
  const trainedAt = Date.now();
  await until(
    async () =>
      other.neighbourLists?.get('inception')?.neighbourIds.includes('paddington') ? true : undefined,
    'the other process to hold the trained lists',
    5_000,
  );
  t.ok(Date.now() - trainedAt < 5_000, `the training reached it in ${Date.now() - trainedAt} ms`);
  await sameListsAsDatabase(t, test, other, 'after the training');
  await watched.refresh();
  t.equal(changes, 1, 'a training is a change');

  t.equal((await test.inject({ method: 'DELETE', url: '/v1/users/solo' })).statusCode, 204);
  const erasedAt = Date.now();
  await until(
    async () =>
      other.neighbourLists?.get('inception')?.neighbourIds.includes('paddington') === false
        ? true
        : undefined,
    'the other process to drop the erased pair',
    5_000,
  );
  t.ok(Date.now() - erasedAt < 5_000, `the erasure reached it in ${Date.now() - erasedAt} ms`);
  await sameListsAsDatabase(t, test, other, 'after the erasure');
  await watched.refresh();
  t.equal(changes, 2, 'an erasure is a change');

  // A vector written since the load (a re-embedding): the opposite direction, unmistakable.
  const before = (await other.vectorsOf(['amelie'])).get('amelie')!;
  const flipped = Array.from(before, (value) => -value);
  await sql`UPDATE item_embeddings SET embedding = ${pgvector.toSql(flipped)}::vector, embedded_at = now()
    WHERE item_id = 'amelie'`.execute(test.database.db);
  await until(
    async () => {
      const now = (await other.vectorsOf(['amelie'])).get('amelie')!;
      return Math.abs(now[0]! + before[0]!) < 0.01 && Math.abs(before[0]!) > 0.001 ? true : undefined;
    },
    'the new vector',
    5_000,
  );
  t.pass('the new vector reached the other process');
});

t.test('over the memory cap nothing is held, and pages read the database', async (t) => {
  const test = await buildTestApp(t, { env: { ...ON_REQUEST, MARQUEE_MODEL_MEMORY_MB: '0' } });
  await seed(test);
  await train(test);
  const model = test.app.recommender.model!;
  t.match(model.status(), {
    neighbourLists: { held: false, reason: /MARQUEE_MODEL_MEMORY_MB/ },
    itemVectors: { held: false },
    vectorIndex: { held: false },
  });
  t.equal(model.nearest(new Float32Array(3), { limit: 3, excludeIds: [] }), undefined);
  t.equal(model.neighbourLists, undefined);
  const page = await test.inject({ method: 'GET', url: '/v1/users/a1/recommendations?limit=5' });
  t.equal(page.statusCode, 200);
  const reasons = (page.json().items as { itemId: string; reasons: { source: string }[] }[]).filter((item) =>
    item.reasons.some((reason) => reason.source === 'collaborative'),
  );
  t.ok(reasons.length > 0, 'collaborative picks, from the lists in the database');

  // A cap the lists do not fit in.
  const tight = startModelSnapshot({
    db: test.database.db,
    memoryLimitBytes: 100,
    logger: quiet,
    poll: false,
  });
  t.teardown(() => tight.stop());
  await tight.refresh();
  t.match(tight.status(), {
    neighbourLists: { held: false, reason: /beyond MARQUEE_MODEL_MEMORY_MB/ },
    itemVectors: { held: false, reason: /beyond MARQUEE_MODEL_MEMORY_MB/ },
  });
  t.equal((await tight.vectorsOf(['heat'])).size, 1, 'vectors still come, from the database');
});

t.test('under any cap, what is held fits: the vector index counts while it is built', async (t) => {
  const test = await buildTestApp(t, { env: ON_REQUEST });
  await seed(test);
  await train(test);
  const start = async (memoryLimitBytes: number) => {
    const model = startModelSnapshot({ db: test.database.db, memoryLimitBytes, logger: quiet, poll: false });
    t.teardown(() => model.stop());
    await model.refresh();
    return model;
  };
  const roomy = await start(64 * 1_048_576);
  const whole = roomy.status();
  // (Too few users here for a learned ranker: the netflix tests hold one.)
  t.match(whole, { neighbourLists: { held: true }, itemVectors: { held: true } });
  // Right after the vectors load their index may still be building: it counts already.
  t.ok(roomy.heldBytes() > whole.neighbourLists.bytes + whole.itemVectors.bytes, 'the index counts');
  await roomy.settled();
  const full = roomy.heldBytes();
  const heldParts = new Set<string>();
  for (const share of [0.1, 0.3, 0.5, 0.7, 0.9, 1]) {
    const limit = Math.floor(full * share);
    const model = await start(limit);
    await model.settled();
    t.ok(model.heldBytes() <= limit, `${model.heldBytes()} bytes held under a cap of ${limit}`);
    const status = model.status();
    for (const [part, held] of Object.entries(status)) if (held.held) heldParts.add(part);
    if (status.itemVectors.held) t.ok(status.vectorIndex.held, 'held vectors get their index');
  }
  t.ok(heldParts.has('neighbourLists') && heldParts.has('itemVectors'), 'parts are held where they fit');
});

t.test('pages with the model in memory are the pages without it', async (t) => {
  const test = await buildTestApp(t, { env: ON_REQUEST });
  await seed(test);
  await train(test);
  const held = test.app.recommender;
  await held.model!.settled();
  await test.app.itemCatalog.settled();
  t.ok(held.model!.status().vectorIndex.held, 'the vector index serves the in-memory pages');
  t.ok(test.app.itemCatalog.status().held, 'the item catalog checks the in-memory pages');
  const fromDatabase = { ...held, model: undefined, catalog: undefined, topLists: undefined };
  const { recommendForUser, recommendSimilar } =
    await import('../../src/services/recommendations.service.ts');
  for (const userId of ['a1', 'b2', 'solo']) {
    const request = { userId, limit: 10, filters: {}, recordImpressions: false };
    const [memory, database] = await Promise.all([
      recommendForUser({ ...held, pageCache: uncached() }, request),
      recommendForUser({ ...fromDatabase, pageCache: uncached() }, request),
    ]);
    t.same(ids(memory.page), ids(database.page), `${userId}'s page`);
  }
  for (const itemId of ['inception', 'amelie']) {
    const request = { limit: 10, filters: {}, recordImpressions: false };
    const [memory, database] = await Promise.all([
      recommendSimilar({ ...held, pageCache: uncached() }, itemId, request),
      recommendSimilar({ ...fromDatabase, pageCache: uncached() }, itemId, request),
    ]);
    t.same(ids(memory.page), ids(database.page), `similar to ${itemId}`);
  }
});

t.test('the fresh source from memory: the releases pgvector would rank', async (t) => {
  const test = await buildTestApp(t, { env: ON_REQUEST });
  await seed(test);
  const year = new Date().getUTCFullYear();
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
  // More releases than the source's 30, each about other things: which 30 it keeps depends on its ranking.
  const words = (
    'heist bear dream casino mountain waitress London Paris robot ocean desert train wedding ghost chef ' +
    'island detective piano soldier comet garden pirate river knight circus storm violin castle jungle ' +
    'lighthouse glacier carnival orchard submarine volcano lantern harbor meadow falcon canyon'
  ).split(' ');
  const releases: [string, string, string, Record<string, string>][] = [];
  for (let n = 0; n < 34; n++) {
    const title = `The ${words[n]} and the ${words[(n * 7 + 3) % words.length]}`;
    releases.push([`new-${n}`, title, `${year - (n % 2)}-03-01`, {}]);
  }
  releases.push(['old-heist', 'Rififi, a heist in Paris', '1955-04-13', {}]);
  releases.push(['coming-heist', 'Score, a heist next month', `${year}-12-01`, { availableFrom: tomorrow }]);
  for (const [id, title, released, extra] of releases) {
    const response = await test.inject({
      method: 'PUT',
      url: `/v1/items/${id}`,
      ...json({ title, releaseDate: released, ...extra }),
    });
    if (response.statusCode !== 201) throw new Error(response.body);
  }
  await until(async () => {
    const rows = await test.database.db.selectFrom('item_embeddings').select('item_id').execute();
    return rows.length === 40 ? true : undefined;
  }, 'the forty item vectors');
  await train(test);
  const held = test.app.recommender;
  await held.model!.settled();
  await test.app.itemCatalog.settled();
  const fromDatabase = { ...held, model: undefined, catalog: undefined, topLists: undefined };
  const { recommendForUser } = await import('../../src/services/recommendations.service.ts');
  const freshOf = (page: { items: { itemId: string; reasons: { source: string }[] }[] }) =>
    page.items
      .filter((item) => item.reasons.some((reason) => reason.source === 'fresh'))
      .map((item) => item.itemId);
  for (const userId of ['a1', 'b2', 'newcomer']) {
    const request = { userId, limit: 60, filters: {}, recordImpressions: false, diversity: 0 };
    const [memory, database] = await Promise.all([
      recommendForUser({ ...held, pageCache: uncached() }, request),
      recommendForUser({ ...fromDatabase, pageCache: uncached() }, request),
    ]);
    // The same items; their order may differ where two similarities differ by less than the int8 vectors'
    // rounding (about 0.004).
    const fresh = freshOf(memory.page).sort();
    t.same(fresh, freshOf(database.page).sort(), `${userId}: the same fresh items`);
    t.ok(fresh.length >= 30, `${userId}: the source's 30 best releases at least`);
    t.ok(
      fresh.every((id) => id.startsWith('new-')),
      `${userId}: this year's and last year's, available now`,
    );
    t.same(ids(memory.page).sort(), ids(database.page).sort(), `${userId}'s page`);
  }
});

const ids = (page: { items: { itemId: string }[] }) => page.items.map((item) => item.itemId);

/** A page cache that never hits: each call computes. */
function uncached() {
  return {
    async getOrCompute<T>(_key: unknown, _ttl: number, compute: () => Promise<T>) {
      const value = await compute();
      return { json: JSON.stringify(value), value, hit: false };
    },
    versions: () => Promise.resolve({ catalog: 'c1', statistics: 's1' }),
  } as never;
}

t.test('an empty database, then a catalog: no warning, and the index follows', async (t) => {
  const test = await buildTestApp(t, { env: ON_REQUEST });
  const warnings: unknown[] = [];
  const model = startModelSnapshot({
    db: test.database.db,
    memoryLimitBytes: 64 * 1_048_576,
    logger: { info: () => {}, warn: (object) => warnings.push(object) },
    poll: false,
  });
  t.teardown(() => model.stop());
  await model.refresh();
  t.match(model.status(), { itemVectors: { held: true, items: 0 }, vectorIndex: { held: false } });
  await seed(test);
  await model.refresh();
  await model.settled();
  t.match(model.status(), { itemVectors: { held: true, items: 4 }, vectorIndex: { held: true, items: 4 } });
  t.same(warnings, [], 'nothing went wrong on the way');
});
