import t from 'tap';
import { buildTestApp, json, type TestApp } from '../helpers/test-app.ts';

// A small hand-made catalog where the right answers are known: six genres of six items each, with plots
// in each genre's own vocabulary, so content similarity separates them.
const GENRES = {
  'space opera': [
    'Starfleet captains battle an alien empire across the galaxy in giant warships',
    'A rebel pilot and a smuggler fly a starship through an asteroid field to save the galactic republic',
    'Interstellar colonists aboard a spaceship fight pirates near a distant planet and its moons',
    'An astronaut commander leads a space fleet against invading aliens from another star system',
    'Galactic knights duel with laser swords as the empire builds a planet destroying space station',
    'A starship crew explores wormholes and nebulae while an alien armada threatens the federation',
  ],
  horror: [
    'A haunted house terrorises a family as a demon possesses their daughter at night',
    'A masked killer stalks teenagers in a dark forest cabin, slasher blood and screams',
    'Zombies rise from the graveyard and a ghost haunts the survivors in a cursed town',
    'A vampire feeds on villagers while a witch summons evil spirits in the cellar',
    'A possessed doll brings terror and gore to a creepy orphanage full of ghosts',
    'A paranormal investigator faces a demonic entity in a haunted asylum',
  ],
  romance: [
    'Two strangers fall in love in Paris and a wedding brings their families together',
    'A florist and a baker share a romantic summer of kisses, dates and heartbreak',
    'Old sweethearts reunite at a wedding and rekindle their love story',
    'A charming bachelor falls for his best friend as they plan a romantic proposal',
    'A love letter sent by mistake leads to romance, dating and a marriage proposal',
    'Two rivals fall in love on a holiday, a sweet romantic comedy about the heart',
  ],
  documentary: [
    'A nature documentary about whales, oceans and coral reefs narrated by scientists',
    'A documentary on climate change, glaciers and the scientists who measure them',
    'Wildlife of the African savanna: lions, elephants and the migration, a nature film',
    'A history documentary about ancient Rome, its emperors, archaeology and ruins',
    'Inside the rainforest: a documentary on jungle animals, insects and biodiversity',
    'A science documentary exploring volcanoes, earthquakes and geology of the earth',
  ],
  animation: [
    'A cartoon puppy and his kitten friends go on a colourful adventure for kids',
    'Animated talking toys come alive when children leave the playroom, a family cartoon',
    'A little princess and her magical pony sing songs in an animated fairy tale for children',
    'Cartoon dinosaurs learn about friendship in a fun animated movie for kids',
    'A brave little bunny rescues her friends in a colourful cartoon for preschoolers',
    'Animated fish search the ocean for their lost friend in a family cartoon',
  ],
  thriller: [
    'A detective hunts a serial killer through the city as the police race against time',
    'A spy uncovers a conspiracy in the government and must escape assassins',
    'A hostage negotiator faces a bank robbery that turns into a deadly heist',
    'A lawyer is framed for murder and investigates the crime to clear her name',
    'An undercover agent infiltrates a drug cartel in a tense crime thriller',
    'A journalist exposes a corrupt politician and becomes the target of killers',
  ],
} as const;
type Genre = keyof typeof GENRES;
const GENRE_NAMES = Object.keys(GENRES) as Genre[];
const ratingOf: Record<Genre, string> = {
  'space opera': 'PG-13',
  horror: 'R',
  romance: 'PG',
  documentary: 'G',
  animation: 'G',
  thriller: 'R',
};
const idOf = (genre: Genre, n: number) => `${genre.replace(' ', '-')}-${n}`;
const genreOfId = (id: string) => GENRE_NAMES.find((genre) => id.startsWith(genre.replace(' ', '-')))!;

async function seedCatalog(api: TestApp) {
  for (const genre of GENRE_NAMES) {
    for (const [n, description] of GENRES[genre].entries()) {
      const response = await api.inject({
        method: 'PUT',
        url: `/v1/items/${idOf(genre, n)}`,
        ...json({
          type: n === 5 ? 'series' : 'movie',
          title: `${genre} title ${n}`,
          description,
          genres: [genre],
          releaseDate: String(1990 + n * 5),
          maturityRating: ratingOf[genre],
          regions: n === 4 ? ['FR'] : [],
          // An hour to 2 h 15 by quarters of an hour; the fourth of each genre has no known duration.
          ...(n !== 3 && { durationSeconds: 3_600 + n * 900 }),
          attributes: { studio: n % 2 === 0 ? 'North' : 'South', score: n },
        }),
      });
      if (response.statusCode !== 201) throw new Error(response.body);
    }
  }
  await api.app.embedding.idle();
}

/** Other users' histories: each watches all of one genre, so the collaborative model links a genre's items. */
async function seedCrowd(api: TestApp) {
  const events = [];
  for (const [u, genre] of GENRE_NAMES.entries()) {
    for (let copy = 0; copy < 3; copy++) {
      for (let n = 0; n < 6; n++) {
        events.push({
          userId: `crowd-${u}-${copy}`,
          itemId: idOf(genre, n),
          type: 'complete',
          timestamp: new Date(Date.UTC(2026, 10, 1 + n, copy)).toISOString(),
        });
      }
    }
  }
  const response = await api.inject({ method: 'POST', url: '/v1/events', ...json({ events }) });
  if (response.statusCode !== 200) throw new Error(response.body);
  await api.app.modelTraining.trainNow();
}

async function postEvents(api: TestApp, events: object[]) {
  const response = await api.inject({ method: 'POST', url: '/v1/events', ...json({ events }) });
  if (response.statusCode !== 200 || response.json().rejected.length > 0) throw new Error(response.body);
}

interface Page {
  recommendationId: string;
  variant: string;
  items: {
    itemId: string;
    score: number;
    item: { genres: string[]; type: string };
    reasons: { source: string }[];
  }[];
  nextCursor: string | null;
}

async function recommend(api: TestApp, userId: string, query = ''): Promise<Page & { cache: string }> {
  const response = await api.inject({ method: 'GET', url: `/v1/users/${userId}/recommendations?${query}` });
  if (response.statusCode !== 200) throw new Error(`${response.statusCode} ${response.body}`);
  return { ...response.json<Page>(), cache: String(response.headers['x-cache']) };
}

t.test('recommendations on a hand-made catalog', async (t) => {
  const api = await buildTestApp(t);
  await seedCatalog(api);
  await seedCrowd(api);

  const finished = [0, 1, 2].map((n) => idOf('space opera', n));
  await postEvents(
    api,
    finished.map((itemId, n) => ({
      userId: 'fan',
      itemId,
      type: 'complete',
      timestamp: new Date(Date.UTC(2026, 10, 10, n)).toISOString(),
    })),
  );

  await t.test('someone who finished three space operas gets space operas first', async (t) => {
    const page = await recommend(api, 'fan', 'limit=6&diversity=0');
    const top = page.items.slice(0, 3).map((entry) => entry.itemId);
    t.same(top.map(genreOfId), ['space opera', 'space opera', 'space opera'], `top 3: ${top.join(', ')}`);
    t.ok(
      page.items[0]!.reasons.some(
        (reason) => reason.source === 'collaborative' || reason.source === 'vector',
      ),
      'the first item says it came from the profile',
    );
    t.match(page.recommendationId, /^[0-9a-f-]{36}$/);
  });

  await t.test('consumed items never return, on any page', async (t) => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await recommend(api, 'fan', `limit=7${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.items.map((entry) => entry.itemId));
      cursor = page.nextCursor;
    } while (cursor);
    t.equal(new Set(seen).size, seen.length, 'no item twice across pages');
    for (const itemId of finished) t.notOk(seen.includes(itemId), `${itemId} is not recommended again`);
    t.ok(seen.length >= 25, `pages cover the catalog (${seen.length} items)`);
  });

  await t.test('a disliked genre disappears', async (t) => {
    await postEvents(
      api,
      [0, 1].map((n) => ({
        userId: 'fan',
        itemId: idOf('horror', n),
        type: 'dislike',
        timestamp: new Date(Date.UTC(2026, 10, 11, n)).toISOString(),
      })),
    );
    const page = await recommend(api, 'fan', 'limit=30');
    const horror = page.items.filter((entry) => entry.item.genres.includes('horror'));
    t.same(horror, [], 'no horror on the page');
    t.ok(page.items.length >= 20, `the page is still full (${page.items.length})`);
  });

  await t.test('every filter is obeyed', async (t) => {
    const cases: [string, (entry: Page['items'][number] & { item: Record<string, unknown> }) => boolean][] = [
      ['type=series', (entry) => entry.item.type === 'series'],
      ['genres=romance,documentary', (entry) => ['romance', 'documentary'].includes(entry.item.genres[0]!)],
      [
        'excludeGenres=space%20opera,thriller',
        (entry) => !['space opera', 'thriller'].includes(entry.item.genres[0]!),
      ],
      ['maxMaturityRating=PG', (entry) => ['PG', 'G'].includes(entry.item.maturityRating as string)],
      [
        'yearFrom=2000&yearTo=2010',
        (entry) => {
          const year = Number(String(entry.item.releaseDate).slice(0, 4));
          return year >= 2000 && year <= 2010;
        },
      ],
      ['region=US', (entry) => (entry.item.regions as string[]).length === 0],
      [
        'maxDurationSeconds=5400',
        // An item of unknown duration cannot be shown to be short enough: it is left out.
        (entry) =>
          entry.item.durationSeconds !== undefined && (entry.item.durationSeconds as number) <= 5_400,
      ],
      [
        'minDurationSeconds=4500&maxDurationSeconds=7200',
        (entry) => {
          const seconds = entry.item.durationSeconds as number | undefined;
          return seconds !== undefined && seconds >= 4_500 && seconds <= 7_200;
        },
      ],
      [
        `attributes=${encodeURIComponent('{"studio":"North"}')}`,
        (entry) => (entry.item.attributes as { studio: string }).studio === 'North',
      ],
      [
        `attributes=${encodeURIComponent('{"score":{"gte":2,"lt":4}}')}`,
        (entry) => {
          const score = (entry.item.attributes as { score: number }).score;
          return score >= 2 && score < 4;
        },
      ],
    ];
    for (const [query, holds] of cases) {
      const page = await recommend(api, 'fan', `limit=50&${query}`);
      t.ok(page.items.length > 0, `${query}: some items`);
      const broken = page.items.filter((entry) => !holds(entry as never));
      t.same(
        broken.map((entry) => entry.itemId),
        [],
        `${query}: every item obeys it`,
      );
    }
  });

  await t.test('raising diversity widens the genre spread', async (t) => {
    const spread = async (diversity: number) => {
      const page = await recommend(api, 'fan', `limit=6&diversity=${diversity}`);
      return new Set(page.items.map((entry) => entry.item.genres[0])).size;
    };
    const narrow = await spread(0);
    const wide = await spread(0.9);
    t.ok(wide > narrow, `distinct genres in the top 6: ${narrow} at diversity 0, ${wide} at 0.9`);
  });

  await t.test(
    'a brand-new item is recommendable through content similarity before anyone watched it',
    async (t) => {
      const put = await api.inject({
        method: 'PUT',
        url: '/v1/items/space-opera-new',
        ...json({
          type: 'movie',
          title: 'Brand new space saga',
          description:
            'A starship fleet and a rebel pilot battle the alien empire across the galaxy of stars',
          genres: ['space opera'],
        }),
      });
      t.equal(put.statusCode, 201);
      await api.app.embedding.idle();
      const page = await recommend(api, 'fan', 'limit=10');
      const entry = page.items.find((candidate) => candidate.itemId === 'space-opera-new');
      t.ok(entry, 'the new item is on the first page');
      t.ok(
        entry?.reasons.some((reason) => reason.source === 'vector'),
        'through the vector source',
      );
    },
  );

  await t.test('a new user gets a non-empty, trending page', async (t) => {
    const page = await recommend(api, 'nobody-yet', 'limit=10');
    t.equal(page.items.length, 10);
    t.ok(
      page.items.every((entry) =>
        entry.reasons.some((reason) => reason.source === 'trending' || reason.source === 'exploration'),
      ),
    );
  });

  await t.test('pages are cached until the user posts an event', async (t) => {
    const first = await recommend(api, 'fan', 'limit=5');
    const again = await recommend(api, 'fan', 'limit=5');
    t.equal(again.cache, 'hit');
    t.same(again.items, first.items);
    t.equal(again.recommendationId, first.recommendationId);
    await postEvents(api, [{ userId: 'fan', itemId: idOf('space opera', 3), type: 'complete' }]);
    const after = await recommend(api, 'fan', 'limit=5');
    t.equal(after.cache, 'miss');
    t.notOk(
      after.items.some((entry) => entry.itemId === idOf('space opera', 3)),
      'the newly finished item is gone',
    );
  });

  await t.test('the same state gives the same page', async (t) => {
    await api.app.pageCache.invalidateCatalog();
    const a = await recommend(api, 'fan', 'limit=12&diversity=0.3');
    await api.app.pageCache.invalidateCatalog();
    const b = await recommend(api, 'fan', 'limit=12&diversity=0.3');
    t.equal(b.cache, 'miss');
    t.same(
      b.items.map((entry) => entry.itemId),
      a.items.map((entry) => entry.itemId),
    );
  });

  await t.test('what a page showed is recorded for attribution', async (t) => {
    const page = await recommend(api, 'fan', 'limit=4&type=movie&diversity=0.11');
    const rows = await api.database.db
      .selectFrom('recommendation_impressions')
      .selectAll()
      .where('recommendation_id', '=', page.recommendationId)
      .orderBy('position')
      .execute();
    t.same(
      rows.map((row) => row.item_id),
      page.items.map((entry) => entry.itemId),
    );
    t.ok(rows.every((row) => row.user_id === 'fan' && row.endpoint === 'user' && row.sources.length > 0));
  });

  await t.test('session recommendations follow what was just viewed', async (t) => {
    const recent = [idOf('documentary', 0), idOf('documentary', 1)];
    const response = await api.inject({
      method: 'POST',
      url: '/v1/recommendations',
      ...json({ recentItemIds: recent, limit: 5, filters: { types: ['movie'] } }),
    });
    t.equal(response.statusCode, 200, response.body);
    const page = response.json<Page>();
    t.same(
      page.items.slice(0, 3).map((entry) => genreOfId(entry.itemId)),
      ['documentary', 'documentary', 'documentary'],
    );
    t.notOk(
      page.items.some((entry) => recent.includes(entry.itemId)),
      'never the viewed items themselves',
    );
    t.ok(page.items.every((entry) => entry.item.type === 'movie'));
  });

  await t.test('similar items', async (t) => {
    const response = await api.inject({
      method: 'GET',
      url: `/v1/items/${idOf('animation', 0)}/similar?limit=5`,
    });
    t.equal(response.statusCode, 200, response.body);
    const page = response.json<Page>();
    t.same(
      page.items.slice(0, 4).map((entry) => genreOfId(entry.itemId)),
      ['animation', 'animation', 'animation', 'animation'],
    );
    t.notOk(page.items.some((entry) => entry.itemId === idOf('animation', 0)));
    const missing = await api.inject({ method: 'GET', url: '/v1/items/nope/similar' });
    t.equal(missing.statusCode, 404);
  });

  await t.test('erasing a user removes their profile and the pages they were shown', async (t) => {
    await recommend(api, 'leaver', 'limit=3');
    await postEvents(api, [{ userId: 'leaver', itemId: idOf('romance', 0), type: 'like' }]);
    const count = async (table: 'recommendation_impressions' | 'user_profiles') =>
      Number(
        (
          await api.database.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll().as('n'))
            .where('user_id', '=', 'leaver')
            .executeTakeFirstOrThrow()
        ).n,
      );
    t.equal(await count('recommendation_impressions'), 3);
    t.equal(await count('user_profiles'), 1);
    const erased = await api.inject({ method: 'DELETE', url: '/v1/users/leaver' });
    t.equal(erased.statusCode, 204);
    t.equal(await count('recommendation_impressions'), 0);
    t.equal(await count('user_profiles'), 0);
  });

  await t.test('bad input is a 400 problem naming the field', async (t) => {
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['maxMaturityRating=XYZ', 'maxMaturityRating'],
      ['attributes=%7Bnot-json', 'attributes'],
      ['diversity=2', 'diversity'],
      ['yearFrom=abc', 'yearFrom'],
      ['maxDurationSeconds=-5', 'maxDurationSeconds'],
      ['minDurationSeconds=1.5', 'minDurationSeconds'],
      ['variant=nope', 'variant'],
      ['cursor=garbage', 'cursor'],
    ] as const) {
      const response = await api.inject({ method: 'GET', url: `/v1/users/fan/recommendations?${query}` });
      t.equal(response.statusCode, 400, query);
      t.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
      t.match(response.body, field, `${query} names ${field}`);
    }
  });
});

t.test('A/B variants: a stable hash of the user picks a configured weight set', async (t) => {
  const api = await buildTestApp(t, {
    env: {
      MARQUEE_VARIANTS: JSON.stringify({
        control: { share: 50 },
        'vector-heavy': { share: 50, weights: { vector: 3 } },
      }),
    },
  });
  await seedCatalog(api);
  const seen = new Map<string, string>();
  for (let n = 0; n < 40; n++) {
    const page = await recommend(api, `user-${n}`, 'limit=3');
    seen.set(`user-${n}`, page.variant);
  }
  const counts = [...seen.values()].reduce<Record<string, number>>(
    (acc, variant) => ({ ...acc, [variant]: (acc[variant] ?? 0) + 1 }),
    {},
  );
  t.ok(
    counts.control! >= 10 && counts['vector-heavy']! >= 10,
    `both variants used: ${JSON.stringify(counts)}`,
  );
  const again = await recommend(api, 'user-7', 'limit=3&diversity=0.5');
  t.equal(again.variant, seen.get('user-7'), 'the same user stays in the same variant');
  const forced = await recommend(api, 'user-7', 'limit=3&variant=vector-heavy');
  t.equal(forced.variant, 'vector-heavy');
});
