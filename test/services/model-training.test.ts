import { sql } from 'kysely';
import pg from 'pg';
import t from 'tap';
import { findItemNeighbours } from '../../src/repositories/model-data.repository.ts';
import { getMetaValue } from '../../src/repositories/meta.repository.ts';
import { TRENDING_HALF_LIVES, logWeight } from '../../src/recommender/trending-decay.ts';
import {
  MODELS_TRAINED_KEY,
  trainModels,
  type TrainingSummary,
} from '../../src/services/model-training.service.ts';
import { buildTestApp, json, servedMode, type TestApp } from '../helpers/test-app.ts';

t.setTimeout(120_000);

// Historical data: the latest event is long before today, and trending still ranks from it.
const ANCHOR = Date.parse('2024-06-01T12:00:00Z');
const DAY_MS = 24 * 60 * 60 * 1000;
const at = (daysBefore: number) => new Date(ANCHOR - daysBefore * DAY_MS).toISOString();
// Only when asked: no start-up or post-import training can race the trainings these tests make.
const ON_REQUEST = { MARQUEE_MODEL_REFRESH_MINUTES: '0' };

type Event = { userId: string; itemId: string; type: string; value?: number; timestamp: string };

async function putItems(test: TestApp, ids: readonly string[]) {
  for (const id of ids) {
    const response = await test.inject({ method: 'PUT', url: `/v1/items/${id}`, ...json({ title: id }) });
    if (response.statusCode !== 201) throw new Error(response.body);
  }
}

async function postEvents(test: TestApp, events: readonly Event[]) {
  const response = await test.inject({ method: 'POST', url: '/v1/events', ...json({ events }) });
  if (response.json().accepted !== events.length) throw new Error(response.body);
}

async function trainThroughApi(test: TestApp): Promise<TrainingSummary> {
  const response = await test.inject({ method: 'POST', url: '/v1/admin/models/train' });
  if (response.statusCode !== 200) throw new Error(response.body);
  return response.json();
}

async function itemStats(test: TestApp) {
  const rows = await test.database.db.selectFrom('item_stats').selectAll().orderBy('item_id').execute();
  return new Map(rows.map((row) => [row.item_id, row]));
}

/**
 * a and b: watched to the end by the same six users; c: liked by two of them; gone: completed by three of
 * them, then deleted; disliked: only disliked and skipped; new and old: three plays each, a day and twenty
 * days before the latest event; rated: one low rating.
 */
async function seedCatalog(test: TestApp) {
  await putItems(test, ['a', 'b', 'c', 'gone', 'disliked', 'new', 'old', 'rated']);
  const events: Event[] = [];
  for (let u = 1; u <= 6; u++) {
    events.push({ userId: `u${u}`, itemId: 'a', type: 'complete', timestamp: at(0) });
    events.push({ userId: `u${u}`, itemId: 'b', type: 'complete', timestamp: at(0.5) });
    // A repeat of the same pair counts once in the model, twice in interactions.
    if (u === 1) events.push({ userId: 'u1', itemId: 'b', type: 'play', timestamp: at(0.6) });
  }
  for (const u of [1, 2]) events.push({ userId: `u${u}`, itemId: 'c', type: 'like', timestamp: at(2) });
  for (const u of [1, 2, 3])
    events.push({ userId: `u${u}`, itemId: 'gone', type: 'complete', timestamp: at(1) });
  for (const u of [1, 2, 7, 8]) {
    events.push({ userId: `u${u}`, itemId: 'disliked', type: 'dislike', timestamp: at(1) });
    events.push({ userId: `u${u}`, itemId: 'disliked', type: 'skip', timestamp: at(1) });
  }
  for (const u of [10, 11, 12]) {
    events.push({ userId: `u${u}`, itemId: 'new', type: 'play', timestamp: at(1) });
    events.push({ userId: `u${u + 10}`, itemId: 'old', type: 'play', timestamp: at(20) });
  }
  events.push({ userId: 'u9', itemId: 'rated', type: 'rate', value: 0.5, timestamp: at(3) });
  await postEvents(test, events);
  // Its events stay (events have no foreign key to items): training must leave them out.
  const deleted = await test.inject({ method: 'DELETE', url: '/v1/items/gone' });
  if (deleted.statusCode !== 204) throw new Error(deleted.body);
}

t.test('training from hand-made events: neighbours, stats, trending, exclusions', async (t) => {
  const test = await buildTestApp(t, { env: ON_REQUEST });
  await seedCatalog(test);
  const summary = await trainThroughApi(test);
  t.match(summary, {
    skipped: false,
    model: 'item-knn',
    // 13 complete/play on a and b, 2 likes, 6 plays, 1 rate; no dislike, skip, or event of the deleted item.
    events: 22,
    // u1..u6, u9, u10..u12, u20..u22.
    users: 13,
    items: 6,
    pairs: 21,
  });
  t.ok(summary.durationMs >= 0 && Date.parse(summary.trainedAt) > 0);

  const neighbours = await findItemNeighbours(test.database.db, ['a', 'b', 'c', 'disliked', 'gone', 'nope']);
  t.same(neighbours.get('a')?.neighbourIds, ['b', 'c'], "b is a's first neighbour, then c");
  t.ok(Math.abs(neighbours.get('a')!.scores[0]! - 1) < 1e-6, 'a and b: the same six users, cosine 1');
  t.ok(neighbours.get('a')!.scores[1]! > 0 && neighbours.get('a')!.scores[1]! < 1);
  t.same(neighbours.get('c')?.neighbourIds, ['a', 'b']);
  t.notOk(neighbours.has('gone'), 'a deleted item has no neighbours');
  t.notOk(neighbours.has('disliked'), 'dislikes and skips are not interactions');
  t.notOk(neighbours.has('nope'));
  const all = await test.database.db.selectFrom('item_neighbours').selectAll().execute();
  t.notOk(
    all.some((row) => row.neighbour_ids.includes('gone') || row.neighbour_ids.includes('disliked')),
    'nor anyone else’s neighbour',
  );
  t.ok(all.every((row) => row.model === 'item-knn'));
  t.equal(summary.neighbourRows, all.length);

  // The statistics are live: written as the events were, not by the training. A deleted item keeps its row
  // (its events stay), which no query serves (they join with items).
  const stats = await itemStats(test);
  t.same([...stats.keys()], ['a', 'b', 'c', 'gone', 'new', 'old', 'rated']);
  t.match(stats.get('b'), { interactions: 7, users: 6, popularity: 6 });
  t.match(stats.get('rated'), { interactions: 1, users: 1 }, 'a low rating is still an interaction');
  const [fresh, stale] = [stats.get('new')!, stats.get('old')!];
  t.equal(fresh.interactions, stale.interactions);
  t.equal(fresh.users, stale.users);
  t.ok(fresh.trending_week > stale.trending_week, 'recent events trend more than old ones');
  // Decayed sums as of the latest event: the log scores less that moment's weight.
  const asOfAnchor = (score: number, window: 'day' | 'week' | 'month') =>
    Math.exp(score - logWeight(window, ANCHOR));
  t.ok(Math.abs(asOfAnchor(fresh.trending_week, 'week') - 3 * 0.5 ** (1 / TRENDING_HALF_LIVES.week)) < 1e-9);
  t.ok(
    Math.abs(asOfAnchor(stale.trending_month, 'month') - 3 * 0.5 ** (20 / TRENDING_HALF_LIVES.month)) < 1e-9,
  );
  t.ok(Math.abs(asOfAnchor(stats.get('a')!.trending_day, 'day') - 6) < 1e-9);

  t.match(await getMetaValue(test.database.db, MODELS_TRAINED_KEY), {
    at: summary.trainedAt,
    events: 22,
    model: 'item-knn',
  });
});

t.test('without events a training stores nothing and records that it ran', async (t) => {
  const test = await buildTestApp(t, { env: ON_REQUEST });
  t.match(await trainThroughApi(test), { events: 0, users: 0, items: 0, neighbourRows: 0, coveredSeq: '0' });
  t.match(await getMetaValue(test.database.db, MODELS_TRAINED_KEY), { events: 0, model: 'item-knn' });
});

t.test('a second training replaces the first', async (t) => {
  const test = await buildTestApp(t, { env: ON_REQUEST });
  await seedCatalog(test);
  const first = await trainThroughApi(test);
  t.equal((await test.inject({ method: 'DELETE', url: '/v1/items/b' })).statusCode, 204);
  await postEvents(test, [
    { userId: 'u30', itemId: 'a', type: 'like', timestamp: at(0) },
    { userId: 'u30', itemId: 'rated', type: 'like', timestamp: at(0) },
  ]);
  const second = await trainThroughApi(test);
  t.ok(second.trainedAt > first.trainedAt);
  t.equal(second.events, first.events - 7 + 2);

  const neighbours = await findItemNeighbours(test.database.db, ['a', 'b', 'rated']);
  t.notOk(neighbours.has('b'), "the deleted item's row is gone");
  t.same(neighbours.get('a')?.neighbourIds, ['c', 'rated']);
  t.same(neighbours.get('rated')?.neighbourIds, ['a']);
  const rows = await test.database.db
    .selectFrom('item_neighbours')
    .select(['item_id', 'trained_at'])
    .execute();
  t.equal(rows.length, second.neighbourRows, 'no row of the first training is left');
  const stats = await itemStats(test);
  t.match(stats.get('a'), { interactions: 7, users: 7 }, "u30's like counted as it was posted");
  t.match(await getMetaValue(test.database.db, MODELS_TRAINED_KEY), {
    at: second.trainedAt,
    events: second.events,
  });
});

t.test('rp3beta and ease train when configured; small pages read every event', async (t) => {
  for (const model of ['rp3beta', 'ease'] as const) {
    const test = await buildTestApp(t, { env: { ...ON_REQUEST, MARQUEE_COLLABORATIVE_MODEL: model } });
    await seedCatalog(test);
    const summary = await trainModels(test.database.db, test.config.recommender, { pageSize: 4 });
    t.match(summary, { skipped: false, model, events: 22, items: 6 });
    const neighbours = await findItemNeighbours(test.database.db, ['a']);
    t.equal(neighbours.get('a')?.neighbourIds[0], 'b', `${model}: b is a's first neighbour`);
    t.ok(neighbours.get('a')!.scores.every((score) => score > 0));
  }
});

t.test('a training while another runs is skipped', async (t) => {
  const test = await buildTestApp(t, { env: ON_REQUEST });
  await seedCatalog(test);
  const outcomes = await Promise.all([
    trainModels(test.database.db, test.config.recommender),
    trainModels(test.database.db, test.config.recommender),
  ]);
  t.same(
    outcomes.map((outcome) => outcome.skipped),
    [false, true],
    'the second call in this process returns at once',
  );
  t.match(outcomes[1], { busy: true, reason: /already running in this process/ });

  // Through the app, calls made during a training wait for it and share one follow-up training.
  const [one, two, three] = await Promise.all([
    test.app.modelTraining.trainNow(),
    test.app.modelTraining.trainNow(),
    test.app.modelTraining.trainNow(),
  ]);
  t.notOk(one.skipped);
  t.notOk(two.skipped);
  t.equal(two, three, 'one follow-up for both');
  t.not(one, two);

  if (!servedMode) return;
  // Another process holding the lock: this one skips, and the admin route says so. Advisory locks belong
  // to a database: connect to this test's.
  const { rows } = await sql<{ name: string }>`SELECT current_database() AS name`.execute(test.database.db);
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${rows[0]!.name}`;
  const other = new pg.Client({ connectionString: url.toString() });
  await other.connect();
  t.teardown(() => other.end());
  await other.query(`SELECT pg_advisory_lock(hashtext('marquee:model-training'))`);
  t.match(await trainModels(test.database.db, test.config.recommender), {
    skipped: true,
    busy: true,
    reason: /another process/,
  });
  const refused = await test.inject({ method: 'POST', url: '/v1/admin/models/train' });
  t.equal(refused.statusCode, 409);
  t.match(refused.json(), { type: 'urn:marquee:problem:conflict', detail: /another process/ });
  await other.query(`SELECT pg_advisory_unlock(hashtext('marquee:model-training'))`);
  t.notOk((await trainModels(test.database.db, test.config.recommender)).skipped, 'free again');
});

t.test('a scheduled training finds nothing to do when the last one covers every event', async (t) => {
  const test = await buildTestApp(t, { env: ON_REQUEST });
  await seedCatalog(test);
  const scheduled = { trigger: { reason: 'scheduled', skipIfCovered: true } };
  const first = await trainModels(test.database.db, test.config.recommender, scheduled);
  t.match(first, { skipped: false }, 'no model yet: it trains');
  t.match(await trainModels(test.database.db, test.config.recommender, scheduled), {
    skipped: true,
    busy: false,
    reason: 'the last training covers every event',
  });
  t.match(
    await trainModels(test.database.db, test.config.recommender),
    { skipped: false },
    'asked: it trains',
  );

  await postEvents(test, [{ userId: 'u40', itemId: 'c', type: 'like', timestamp: at(0) }]);
  t.match(await trainModels(test.database.db, test.config.recommender, scheduled), {
    skipped: false,
    events: 23,
  });
  // An erasure deletes events without a new seq: the count tells.
  t.equal((await test.inject({ method: 'DELETE', url: '/v1/users/u40' })).statusCode, 204);
  t.match(await trainModels(test.database.db, test.config.recommender, scheduled), {
    skipped: false,
    events: 22,
  });
});

t.test('an events import counts at once and reaches the models through the scheduler', async (t) => {
  // apiConcurrency (default 1) lets this process run the queued job in served mode too.
  const test = await buildTestApp(t, {
    env: { MARQUEE_MODEL_RETRAIN_SHARE: '0.05', MARQUEE_MODEL_TRAIN_DEBOUNCE_SECONDS: '0.5' },
  });
  await seedCatalog(test);
  // Trained first, so that the start-up check finds nothing to do: only the import can train again.
  const first = await test.app.modelTraining.trainNow();
  t.notOk(first.skipped);
  const lines = [1, 2, 3].map((u) =>
    JSON.stringify({ userId: `imported-${u}`, itemId: 'c', type: 'complete', timestamp: at(0) }),
  );
  const imported = await test.inject({
    method: 'POST',
    url: '/v1/imports?kind=events&format=ndjson&wait=true',
    headers: { 'content-type': 'application/x-ndjson' },
    payload: lines.join('\n'),
  });
  t.equal(imported.statusCode, 200, imported.body);
  t.equal(imported.json().status, 'completed');
  t.match((await itemStats(test)).get('c'), { users: 5 }, 'the statistics count the import at once');

  // 3 new events of 47: more than 5 %, so a training follows once the writes pause.
  const deadline = Date.now() + 20_000;
  let trained: { events?: number } | undefined;
  while (Date.now() < deadline) {
    trained = (await getMetaValue(test.database.db, MODELS_TRAINED_KEY)) as { events?: number };
    if (trained.events === 25) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.equal(trained?.events, 25, 'the models were trained again with the imported events');
});
