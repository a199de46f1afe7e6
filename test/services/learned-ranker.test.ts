import t from 'tap';
import { decodeRankingArtifact } from '../../src/recommender/ranking/ranking-artifact.ts';
import { RANKING_FEATURES } from '../../src/recommender/ranking/ranking-features.ts';
import { insertRankerModel } from '../../src/repositories/ranker-models.repository.ts';
import type { TrainingSummary } from '../../src/services/model-training.service.ts';
import { buildTestApp, json, type TestApp } from '../helpers/test-app.ts';

t.setTimeout(180_000);

const ON_REQUEST = { MARQUEE_MODEL_REFRESH_MINUTES: '0', MARQUEE_DIVERSITY: '0' };
const TASTES = ['Drama', 'Comedy', 'Horror'];

/**
 * 60 items, 20 of each genre; 200 users in three tastes, each rating 12 items of their taste 4 or 5 and 2
 * others 2, one a minute, in an order of their own.
 */
async function seed(test: TestApp) {
  for (let i = 0; i < 60; i++) {
    const response = await test.inject({
      method: 'PUT',
      url: `/v1/items/i${i}`,
      ...json({
        title: `Title ${i}`,
        genres: [TASTES[Math.floor(i / 20)]],
        releaseDate: `${2000 + (i % 20)}-01-01`,
      }),
    });
    if (response.statusCode !== 201) throw new Error(response.body);
  }
  let seed = 7;
  const next = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
  const events: { userId: string; itemId: string; type: string; value: number; timestamp: string }[] = [];
  for (let u = 0; u < 200; u++) {
    const taste = u % 3;
    const picks = new Set<number>();
    while (picks.size < 12) picks.add(taste * 20 + Math.floor(next() * 20));
    while (picks.size < 14) picks.add(Math.floor(next() * 60));
    [...picks].forEach((item, at) =>
      events.push({
        userId: `u${u}`,
        itemId: `i${item}`,
        type: 'rate',
        value: Math.floor(item / 20) === taste ? 4 + (item % 2) : 2,
        timestamp: new Date(Date.UTC(2026, 0, 1) + (u * 20 + at) * 60_000).toISOString(),
      }),
    );
  }
  for (let from = 0; from < events.length; from += 1_000) {
    const response = await test.inject({
      method: 'POST',
      url: '/v1/events',
      ...json({ events: events.slice(from, from + 1_000) }),
    });
    if (response.statusCode !== 200 && response.statusCode !== 202) throw new Error(response.body);
  }
}

async function train(test: TestApp): Promise<TrainingSummary> {
  const response = await test.inject({ method: 'POST', url: '/v1/admin/models/train' });
  if (response.statusCode !== 200) throw new Error(response.body);
  return response.json();
}

t.test(
  'a training trains a ranker, stores it with its verdict, and GET /v1/admin/models says why',
  async (t) => {
    const test = await buildTestApp(t, { env: ON_REQUEST });
    await seed(test);
    const summary = await train(test);
    t.ok(summary.ranker, 'the summary names the ranker');
    t.match(summary.ranker!.verdict, /^(serving|not serving): /);
    const status = (await test.inject({ method: 'GET', url: '/v1/admin/models' })).json();
    t.equal(status.ranker.setting, 'learned');
    t.equal(status.ranker.latest.id, summary.ranker!.id);
    t.equal(status.ranker.latest.verdict, summary.ranker!.verdict);
    t.ok(status.ranker.latest.heldBackUsers > 0, `${status.ranker.latest.heldBackUsers} held-back users`);
    for (const name of ['ranker', 'fusion', 'item-knn', 'rp3beta', 'ease'])
      t.type(status.ranker.latest.heldBack[name], 'number', `held-back NDCG@10 of ${name}`);
    if (summary.ranker!.serving) {
      t.equal(status.ranker.serving.id, summary.ranker!.id);
      t.ok(status.ranker.latest.heldBack.ranker > status.ranker.latest.heldBack['item-knn']);
      t.equal(status.inMemory.ranker.held, true, 'this process holds it');
    } else t.equal(status.ranker.serving, null, 'nothing serves: pages stay blended');

    const rows = await test.database.db.selectFrom('ranker_models').select(['id', 'catalog']).execute();
    t.equal(rows.length, 1);
    const artifact = decodeRankingArtifact(rows[0]!.catalog);
    t.equal(artifact.itemIds.length, 60, 'its catalog holds every item with events');
    t.ok(
      artifact.catalog.sources.ease &&
        artifact.catalog.sources.rp3beta &&
        artifact.catalog.sources['item-knn'],
    );
  },
);

t.test('with MARQUEE_RANKER=blend no ranker is trained', async (t) => {
  const test = await buildTestApp(t, { env: { ...ON_REQUEST, MARQUEE_RANKER: 'blend' } });
  await seed(test);
  const summary = await train(test);
  t.equal(summary.ranker, undefined);
  t.equal((await test.database.db.selectFrom('ranker_models').select('id').execute()).length, 0);
  const status = (await test.inject({ method: 'GET', url: '/v1/admin/models' })).json();
  t.match(status.ranker, { setting: 'blend', serving: null, latest: null });
});

t.test('the ranker in service orders the pages; a variant pins the blend', async (t) => {
  const test = await buildTestApp(t, {
    env: {
      ...ON_REQUEST,
      MARQUEE_VARIANTS: JSON.stringify({ learned: { share: 100 }, blended: { share: 0, ranker: 'blend' } }),
    },
  });
  await seed(test);
  await train(test);
  const stored = await test.database.db
    .selectFrom('ranker_models')
    .select('catalog')
    .executeTakeFirstOrThrow();
  // A ranker by hand: no trees, the least popular first (what no blend would do).
  await insertRankerModel(test.database.db, {
    serving: true,
    verdict: 'serving: by hand',
    report: {},
    model: {
      features: RANKING_FEATURES,
      trees: {
        width: RANKING_FEATURES.length,
        base: RANKING_FEATURES.map((name) => (name === 'popularity' ? -1 : 0)),
        roots: [],
        feature: [],
        threshold: [],
        left: [],
        right: [],
        value: [],
      },
    },
    catalog: stored.catalog,
  });
  await test.app.recommender.model?.refresh();
  const { catalog, itemIds } = decodeRankingArtifact(stored.catalog);
  const popularity = new Map(itemIds.map((itemId, at) => [itemId, catalog.popularity[at]!]));

  const page = async (variant: string) => {
    const response = await test.inject({
      method: 'GET',
      url: `/v1/users/u0/recommendations?limit=10&variant=${variant}`,
    });
    if (response.statusCode !== 200) t.fail(response.body);
    return response.json().items as { itemId: string; signals?: { feature: string; lift: number }[] }[];
  };
  const learnedItems = await page('learned');
  t.ok(
    learnedItems.every((item) => item.signals?.[0]?.feature === 'popularity' && item.signals[0].lift > 0),
    'each pick says what set it apart: its (low) popularity',
  );
  const learned = learnedItems.map((item) => item.itemId);
  t.equal(learned.length, 10);
  const counts = learned.map((itemId) => popularity.get(itemId)!);
  t.same(
    counts,
    [...counts].sort((a, b) => a - b),
    `ordered by popularity, least first: ${counts.join(', ')}`,
  );
  const blendedItems = await page('blended');
  t.ok(
    blendedItems.every((item) => item.signals === undefined),
    'a blended page has no signals',
  );
  const blended = blendedItems.map((item) => item.itemId);
  t.not(blended.join(), learned.join(), 'the pinned blend orders otherwise');
  const blendedCounts = blended.map((itemId) => popularity.get(itemId)!);
  t.notSame(
    blendedCounts,
    [...blendedCounts].sort((a, b) => a - b),
  );
  const status = (await test.inject({ method: 'GET', url: '/v1/admin/models' })).json();
  t.equal(status.ranker.serving.verdict, 'serving: by hand');
  t.equal(status.inMemory.ranker.held, true);
});
