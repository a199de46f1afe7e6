/**
 * Issue 19's replay test: simulated users click what matches a taste hidden from the engine (one of six
 * hidden kinds of item, which no genre or text reveals), looking less often the lower an item sits on the
 * page; their impressions and clicks are logged
 * through the public API; after a training on them, their click-through rises. The figures are printed.
 */
import t from 'tap';
import { buildTestApp, json, type TestApp } from '../helpers/test-app.ts';

t.setTimeout(300_000);

const GENRES = ['Drama', 'Comedy', 'Horror', 'Action', 'Romance', 'Documentary', 'Crime', 'Family'];
const TASTES = 6;
/** The hidden kind of item i: what users of taste k click. */
const kindOf = (itemId: string) => Number(itemId.slice(1)) % TASTES;
const ITEMS = 120;
const USERS = 150;
const ROUNDS = 4;
const PAGE = 10;

function random(seed: number) {
  return () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
}

async function seed(test: TestApp, next: () => number) {
  for (let i = 0; i < ITEMS; i++) {
    const response = await test.inject({
      method: 'PUT',
      url: `/v1/items/i${i}`,
      ...json({
        title: `Title ${i}`,
        // Two genres at random: they say nothing of the hidden kind.
        genres: [...new Set([GENRES[Math.floor(next() * 8)]!, GENRES[Math.floor(next() * 8)]!])],
        releaseDate: '2015-01-01',
      }),
    });
    if (response.statusCode !== 201) throw new Error(response.body);
  }
  // Each user viewed four items, mostly of their kind: a history the engine can read nothing from until a
  // training (no genre or word of the items tells the kinds apart).
  const events = [];
  for (let u = 0; u < USERS; u++)
    for (let n = 0; n < 4; n++) {
      const kind = next() < 0.8 ? u % TASTES : Math.floor(next() * TASTES);
      events.push({
        userId: `u${u}`,
        itemId: `i${kind + TASTES * Math.floor(next() * (ITEMS / TASTES))}`,
        type: 'view',
        timestamp: new Date(Date.UTC(2026, 0, 1) + (u * 10 + n) * 60_000).toISOString(),
      });
    }
  const response = await test.inject({ method: 'POST', url: '/v1/events', ...json({ events }) });
  if (response.statusCode !== 200 && response.statusCode !== 202) throw new Error(response.body);
}

/**
 * One round: every user gets a page, looks at position p with chance 1 / (p + 1)^0.7, and clicks a looked-at
 * item of their kind 9 times in 10 (any other 1 time in 50). Returns the clicks per variant.
 */
async function round(test: TestApp, next: () => number) {
  const tally = new Map<string, { shown: number; clicks: number }>();
  const events: { userId: string; itemId: string; type: string; recommendationId: string }[] = [];
  for (let u = 0; u < USERS; u++) {
    const taste = u % TASTES;
    const response = await test.inject({
      method: 'GET',
      url: `/v1/users/u${u}/recommendations?limit=${PAGE}`,
    });
    if (response.statusCode !== 200) throw new Error(response.body);
    const page = response.json<{
      recommendationId: string;
      variant: string;
      items: { itemId: string }[];
    }>();
    const counts = tally.get(page.variant) ?? { shown: 0, clicks: 0 };
    tally.set(page.variant, counts);
    page.items.forEach((entry, position) => {
      counts.shown++;
      const looked = next() < 1 / (position + 1) ** 0.7;
      const likes = kindOf(entry.itemId) === taste ? 0.9 : 0.02;
      if (!looked || next() >= likes) return;
      counts.clicks++;
      events.push({
        userId: `u${u}`,
        itemId: entry.itemId,
        type: 'click',
        recommendationId: page.recommendationId,
      });
    });
  }
  if (events.length > 0) {
    const response = await test.inject({ method: 'POST', url: '/v1/events', ...json({ events }) });
    if (response.statusCode !== 200 && response.statusCode !== 202) throw new Error(response.body);
  }
  return tally;
}

function rate(tallies: Map<string, { shown: number; clicks: number }>[], variant?: string) {
  let shown = 0;
  let clicks = 0;
  for (const tally of tallies)
    for (const [name, counts] of tally)
      if (variant === undefined || name === variant) {
        shown += counts.shown;
        clicks += counts.clicks;
      }
  return shown === 0 ? 0 : clicks / shown;
}

t.test('after a training on logged impressions, click-through rises', async (t) => {
  // Half the users get the learned ranker's pages, half the blend's (an A/B test through variants).
  const test = await buildTestApp(t, {
    env: {
      MARQUEE_MODEL_REFRESH_MINUTES: '0',
      MARQUEE_VARIANTS: JSON.stringify({ learned: { share: 50 }, blended: { share: 50, ranker: 'blend' } }),
    },
  });
  const next = random(11);
  await seed(test, next);
  const before = [];
  for (let r = 0; r < ROUNDS; r++) before.push(await round(test, next));
  const trained = await test.inject({ method: 'POST', url: '/v1/admin/models/train' });
  t.equal(trained.statusCode, 200, trained.body);
  const status = (await test.inject({ method: 'GET', url: '/v1/admin/models' })).json<{
    ranker: { latest: { impressionLists: number; clicks: number; verdict: string } | null };
  }>();
  const latest = status.ranker.latest;
  t.ok(
    latest && latest.impressionLists > 0,
    `the ranker learned from ${latest?.impressionLists} shown lists`,
  );
  t.ok(latest && latest.clicks > 0, `with ${latest?.clicks} clicks; ${latest?.verdict}`);
  const after = [];
  for (let r = 0; r < ROUNDS; r++) after.push(await round(test, next));
  const ctrBefore = rate(before);
  const ctrAfter = rate(after);
  t.comment(
    `click-through: ${(ctrBefore * 100).toFixed(1)} % before the training, ${(ctrAfter * 100).toFixed(1)} % after ` +
      `(${USERS} users, ${ROUNDS} pages of ${PAGE} each way)`,
  );
  t.ok(ctrAfter > ctrBefore * 1.5, `click-through ${ctrBefore.toFixed(3)} → ${ctrAfter.toFixed(3)}`);
  const learned = rate(after, 'learned');
  const blended = rate(after, 'blended');
  t.comment(
    `after the training: ${(learned * 100).toFixed(1)} % with the learned ranker, ${(blended * 100).toFixed(1)} % with the blend`,
  );
  // Reported, not asserted: on this small simulation the two are within a few points of each other, and
  // the learned ranker is not (yet) the better one (see docs/EVALUATION.md).
  t.ok(learned > 0 && blended > 0, 'both variants served pages after the training');
});
