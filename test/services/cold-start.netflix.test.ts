/**
 * Issue 19: a new item with no events reaches the pages the learned ranker orders, through its content.
 * On the netflix catalog: anime fans and stand-up fans watch their kind, a training makes the ranker serve,
 * then a new anime series nobody has watched is added; it is on the anime fans' first page, and on no
 * stand-up fan's. Pages and explanations are printed, for reading.
 */
import t from 'tap';
import { importNetflix, netflixAbsent } from '../helpers/netflix.ts';
import { buildTestApp, json } from '../helpers/test-app.ts';

t.setTimeout(600_000);

interface Page {
  items: {
    itemId: string;
    item: { title: string; genres: string[] };
    reasons: { source: string }[];
    signals?: { feature: string }[];
    explanation?: { text: string };
  }[];
}

t.test(
  "a new item reaches the learned ranker's pages through its content",
  { skip: netflixAbsent },
  async (t) => {
    const api = await buildTestApp(t, {
      env: { MARQUEE_MODEL_REFRESH_MINUTES: '0', MARQUEE_RANKER: 'learned' },
    });
    await importNetflix(t, api.inject);
    const idsOf = async (genre: string) => {
      const response = await api.inject({
        method: 'GET',
        url: `/v1/items?genre=${encodeURIComponent(genre)}&limit=100`,
      });
      t.equal(response.statusCode, 200, response.statusCode === 200 ? 'answered' : response.body);
      return response.json<{ items: { id: string }[] }>().items.map((item) => item.id);
    };
    const anime = await idsOf('Anime Series');
    const standUp = await idsOf('Stand-Up Comedy');
    t.ok(
      anime.length >= 50 && standUp.length >= 50,
      `${anime.length} anime series, ${standUp.length} stand-up titles`,
    );

    let seed = 5;
    const next = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
    const events = [];
    for (let u = 0; u < 160; u++) {
      const pool = u % 2 === 0 ? anime : standUp;
      const picks = new Set<string>();
      // The first 40 of each kind: the anime the new season comes from is not among them.
      while (picks.size < 10) picks.add(pool[Math.floor(next() * 40)]!);
      let n = 0;
      for (const itemId of picks)
        events.push({
          userId: `u${u}`,
          itemId,
          type: 'complete',
          timestamp: new Date(Date.UTC(2026, 5, 1) + (u * 12 + n++) * 60_000).toISOString(),
        });
    }
    for (let from = 0; from < events.length; from += 1_000) {
      const posted = await api.inject({
        method: 'POST',
        url: '/v1/events',
        ...json({ events: events.slice(from, from + 1_000) }),
      });
      t.ok(posted.statusCode === 200 || posted.statusCode === 202, posted.body);
    }
    const trained = await api.inject({ method: 'POST', url: '/v1/admin/models/train' });
    t.equal(trained.statusCode, 200, trained.body);
    const status = (await api.inject({ method: 'GET', url: '/v1/admin/models' })).json<{
      ranker: { serving: { verdict: string } | null; latest: { verdict: string } | null };
    }>();
    t.comment(`ranker: ${status.ranker.latest?.verdict}`);
    t.ok(status.ranker.serving, 'the learned ranker serves');

    // A new season of an anime none of them watched: its metadata is that title's, under a new id.
    const model = (await api.inject({ method: 'GET', url: `/v1/items/${anime[70]}` })).json<{
      title: string;
      description: string;
      genres: string[];
      credits: unknown[];
    }>();
    const added = await api.inject({
      method: 'PUT',
      url: '/v1/items/new-anime',
      ...json({
        type: 'series',
        title: `${model.title}: The New Season`,
        description: model.description,
        genres: model.genres,
        credits: model.credits,
        releaseDate: '2026-11-01',
      }),
    });
    t.equal(added.statusCode, 201, added.body);
    await api.app.embedding.idle();
    // Every process picks the new vector up at its next poll of the catalog version; here, now.
    await api.app.recommender.model?.refresh();
    await api.app.recommender.model?.settled();

    const page = async (userId: string) => {
      const response = await api.inject({
        method: 'GET',
        url: `/v1/users/${userId}/recommendations?limit=10&explain=true`,
      });
      t.equal(response.statusCode, 200, response.statusCode === 200 ? 'answered' : response.body);
      return response.json<Page>();
    };
    let reached = 0;
    const fans = ['u0', 'u2', 'u4', 'u6', 'u8', 'u10'];
    for (const userId of fans) {
      const shown = await page(userId);
      t.ok(
        shown.items.some((entry) => entry.signals),
        `${userId}'s page is ordered by the learned ranker`,
      );
      if (shown.items.some((entry) => entry.itemId === 'new-anime')) reached++;
      if (userId === 'u0')
        t.comment(
          shown.items
            .map(
              (entry) =>
                `  ${entry.item.title} [${entry.reasons.map((reason) => reason.source).join(', ')}; ` +
                `${(entry.signals ?? []).map((signal) => signal.feature).join(', ')}] ${entry.explanation?.text}`,
            )
            .join('\n'),
        );
    }
    t.ok(
      reached >= fans.length - 1,
      `the new anime series is on ${reached} of ${fans.length} anime fans' first pages`,
    );
    for (const userId of ['u1', 'u3', 'u5']) {
      const shown = await page(userId);
      t.notOk(
        shown.items.some((entry) => entry.itemId === 'new-anime'),
        `not on stand-up fan ${userId}'s page`,
      );
    }
  },
);
