import t, { type Test } from 'tap';
import { parseServerSentEvents } from '../helpers/server-sent-events.ts';
import { buildTestApp, json, type TestApp } from '../helpers/test-app.ts';

// A small catalog with real-sounding titles, so that a sentence naming one can be checked against it: four
// genres of five items, plots in each genre's own words, a crowd that watches each genre whole, recent
// releases, an editor's pick.
const CATALOG = {
  'science fiction': [
    ['The Martian', 'An astronaut stranded on Mars grows potatoes and waits for a rescue mission from Earth'],
    ['Alien', 'The crew of a starship answers a distress call and meets a deadly creature in deep space'],
    ['Interstellar', 'Astronauts travel through a wormhole near Saturn to find a new planet for humanity'],
    ['Gravity', 'Two astronauts drift in orbit after debris destroys their space shuttle'],
    ['Solaris Rising', 'A space station crew orbiting an ocean planet meets visions from their past'],
  ],
  romance: [
    ['Paris in Spring', 'Two strangers fall in love in Paris and a wedding brings their families together'],
    ['The Florist', 'A florist and a baker share a romantic summer of kisses, dates and heartbreak'],
    ['Old Flames', 'Old sweethearts reunite at a wedding and rekindle their love story'],
    ['The Proposal Plan', 'A charming bachelor falls for his best friend as they plan a romantic proposal'],
    ['Love Letters', 'A love letter sent by mistake leads to romance, dating and a marriage proposal'],
  ],
  documentary: [
    ['Blue Whales', 'A nature documentary about whales, oceans and coral reefs narrated by scientists'],
    ['Melting Ice', 'A documentary on climate change, glaciers and the scientists who measure them'],
    ['Savanna', 'Wildlife of the African savanna: lions, elephants and the migration, a nature film'],
    ['Ancient Rome', 'A history documentary about ancient Rome, its emperors, archaeology and ruins'],
    ['Rainforest', 'Inside the rainforest: a documentary on jungle animals, insects and biodiversity'],
  ],
  thriller: [
    ['Night Hunter', 'A detective hunts a serial killer through the city as the police race against time'],
    ['The Conspiracy', 'A spy uncovers a conspiracy in the government and must escape assassins'],
    ['Hostage', 'A hostage negotiator faces a bank robbery that turns into a deadly heist'],
    ['Framed', 'A lawyer is framed for murder and investigates the crime to clear her name'],
    ['Undercover', 'An undercover agent infiltrates a drug cartel in a tense crime thriller'],
  ],
} as const;
type Genre = keyof typeof CATALOG;
const GENRES = Object.keys(CATALOG) as Genre[];
const idOf = (genre: Genre, n: number) => `${genre.replace(' ', '-')}-${n}`;
const TITLES = new Map(
  GENRES.flatMap((genre) => CATALOG[genre].map(([title], n) => [idOf(genre, n), title] as const)),
);
const CATALOG_TITLES = new Set<string>(TITLES.values());
const THIS_YEAR = new Date().getUTCFullYear();

async function seed(api: TestApp) {
  for (const genre of GENRES) {
    for (const [n, [title, description]] of CATALOG[genre].entries()) {
      const response = await api.inject({
        method: 'PUT',
        url: `/v1/items/${idOf(genre, n)}`,
        ...json({
          type: 'movie',
          title,
          description,
          genres: [genre],
          // The last of each genre is a recent release (the fresh source), the rest older.
          releaseDate: String(n === 4 ? THIS_YEAR : 1995 + n * 5),
          attributes: n === 3 ? { boost: 2 } : {},
        }),
      });
      if (response.statusCode !== 201) throw new Error(response.body);
    }
  }
  await api.app.embedding.idle();
  const events = [];
  for (const [u, genre] of GENRES.entries())
    for (let copy = 0; copy < 3; copy++)
      for (let n = 0; n < 5; n++)
        events.push({ userId: `crowd-${u}-${copy}`, itemId: idOf(genre, n), type: 'complete' });
  // The fan finished three science fiction films.
  for (const n of [0, 1, 2])
    events.push({ userId: 'fan', itemId: idOf('science fiction', n), type: 'complete' });
  const response = await api.inject({ method: 'POST', url: '/v1/events', ...json({ events }) });
  if (response.statusCode !== 200 || response.json().rejected.length > 0) throw new Error(response.body);
  await api.app.modelTraining.trainNow();
}

interface Explained {
  itemId: string;
  reasons: { source: string; evidenceItemIds: string[] }[];
  explanation?: { text: string; source: string; evidenceItemIds: string[] };
}

async function page(api: TestApp, url: string, headers: Record<string, string> = {}) {
  const response = await api.inject({ method: 'GET', url, headers });
  if (response.statusCode !== 200) throw new Error(`${response.statusCode} ${response.body}`);
  return { items: response.json<{ items: Explained[] }>().items, headers: response.headers };
}

/** Every item explained, grounded: it names catalog titles only, and only evidence of its own reasons. */
function checkGrounded(t: Test, items: readonly Explained[], allowedQuotes: ReadonlySet<string> = new Set()) {
  t.ok(items.length > 0, 'a non-empty page');
  for (const entry of items) {
    const explanation = entry.explanation;
    if (!t.ok(explanation, `${entry.itemId} has an explanation`) || !explanation) continue;
    const { text } = explanation;
    t.equal(explanation.source, 'template');
    t.ok(text.length > 0 && text.length <= 240, `${entry.itemId}: ${text}`);
    t.notMatch(text, /recommended for you/i);
    const evidence = new Set(entry.reasons.flatMap((reason) => reason.evidenceItemIds));
    for (const id of explanation.evidenceItemIds) {
      t.ok(evidence.has(id), `${entry.itemId}: ${id} is evidence of its reasons`);
      t.ok(text.includes(TITLES.get(id) ?? `<no item ${id}>`), `${entry.itemId}: names ${TITLES.get(id)}`);
    }
    const quoted = [...text.matchAll(/"([^"]+)"|«\u00a0([^»]+)\u00a0»/g)].map((m) => m[1] ?? m[2]!);
    for (const title of quoted)
      t.ok(
        CATALOG_TITLES.has(title) || allowedQuotes.has(title),
        `${entry.itemId}: "${title}" is in the catalog`,
      );
  }
}

const FRENCH = /[àéèêçœ«’]|\b(vous|les|des|une|avec|dans|par|de|la|le|en)\b/i;

t.test('explanations on every recommending endpoint', async (t) => {
  const api = await buildTestApp(t);
  await seed(api);
  const fanUrl = '/v1/users/fan/recommendations?limit=10';

  await t.test('explain=true gives every item a grounded explanation', async (t) => {
    const { items, headers } = await page(api, `${fanUrl}&explain=true`);
    checkGrounded(t, items);
    t.equal(headers['content-language'], 'en');
    t.ok(
      items.some((entry) => entry.explanation!.evidenceItemIds.length > 0),
      'the fan has history: some sentences name what they watched',
    );
    const texts = new Set(items.map((entry) => entry.explanation!.text));
    t.ok(
      texts.size >= Math.min(items.length, 5),
      `varied: ${texts.size} distinct sentences for ${items.length}`,
    );
  });

  await t.test('explain=false, or none, gives no explanation; the cached page stays as it was', async (t) => {
    for (const query of ['&explain=false', '']) {
      const { items, headers } = await page(api, `${fanUrl}${query}`);
      t.ok(items.length > 0);
      t.ok(
        items.every((entry) => !('explanation' in entry)),
        `${query || 'no explain'}: no explanation`,
      );
      t.equal(headers['x-cache'], 'hit', 'the page the explained answer read from the cache');
      t.notOk(headers['content-language']);
    }
  });

  await t.test('locale=fr and Accept-Language: fr give French', async (t) => {
    const english = await page(api, `${fanUrl}&explain=true`);
    const french = await page(api, `${fanUrl}&explain=true&locale=fr`);
    t.equal(french.headers['content-language'], 'fr');
    checkGrounded(t, french.items);
    french.items.forEach((entry, at) => {
      t.match(entry.explanation!.text, FRENCH, `in French: ${entry.explanation!.text}`);
      t.not(entry.explanation!.text, english.items[at]!.explanation!.text);
      t.same(entry.explanation!.evidenceItemIds, english.items[at]!.explanation!.evidenceItemIds);
    });
    const negotiated = await page(api, `${fanUrl}&explain=true`, {
      'accept-language': 'fr-FR,fr;q=0.9,en;q=0.5',
    });
    t.equal(negotiated.headers['content-language'], 'fr');
    t.same(
      negotiated.items.map((entry) => entry.explanation!.text),
      french.items.map((entry) => entry.explanation!.text),
    );
    const parameterWins = await page(api, `${fanUrl}&explain=true&locale=en-GB`, { 'accept-language': 'fr' });
    t.equal(parameterWins.headers['content-language'], 'en');
    const unknown = await page(api, `${fanUrl}&explain=true&locale=de`);
    t.equal(unknown.headers['content-language'], 'en', 'a language without templates gets English');
  });

  await t.test('similar items: explanations name the item they are similar to', async (t) => {
    const seedId = idOf('documentary', 0);
    const { items } = await page(api, `/v1/items/${seedId}/similar?limit=5&explain=true`);
    checkGrounded(t, items);
    t.ok(
      items.some((entry) => entry.explanation!.evidenceItemIds.includes(seedId)),
      'some sentences name "Blue Whales"',
    );
    for (const entry of items) t.notMatch(entry.explanation!.text, /you enjoyed|you watch/);
  });

  await t.test('session recommendations, in French from the body', async (t) => {
    const recent = [idOf('romance', 0)];
    const response = await api.inject({
      method: 'POST',
      url: '/v1/recommendations',
      ...json({ recentItemIds: recent, limit: 5, explain: true, locale: 'fr' }),
    });
    t.equal(response.statusCode, 200, response.body);
    t.equal(response.headers['content-language'], 'fr');
    const items = response.json<{ items: Explained[] }>().items;
    checkGrounded(t, items);
    t.ok(
      items.some((entry) => entry.explanation!.text.includes('«\u00a0Paris in Spring\u00a0»')),
      'names what was just viewed',
    );
  });

  await t.test('search', async (t) => {
    const response = await api.inject({
      method: 'POST',
      url: '/v1/search',
      ...json({ query: 'astronaut', limit: 5, explain: true }),
    });
    t.equal(response.statusCode, 200, response.body);
    const items = response.json<{ items: Explained[] }>().items;
    checkGrounded(t, items, new Set(['astronaut']));
    t.ok(
      items.some((entry) => entry.explanation!.text.includes('"astronaut"')),
      'names the query',
    );
    const plain = await api.inject({
      method: 'POST',
      url: '/v1/search',
      ...json({ query: 'astronaut', limit: 5 }),
    });
    t.ok(plain.json<{ items: Explained[] }>().items.every((entry) => !('explanation' in entry)));
  });

  await t.test(
    'explain=async answers at once and streams the explanations (offline: templates)',
    async (t) => {
      const answers = [
        await api.inject({ method: 'GET', url: `${fanUrl}&explain=async` }),
        await api.inject({ method: 'GET', url: `/v1/items/${idOf('thriller', 0)}/similar?explain=async` }),
        await api.inject({
          method: 'POST',
          url: '/v1/recommendations',
          ...json({ recentItemIds: [idOf('thriller', 0)], explain: 'async' }),
        }),
        await api.inject({ method: 'POST', url: '/v1/search', ...json({ query: 'spy', explain: 'async' }) }),
      ];
      for (const response of answers) {
        t.equal(response.statusCode, 200, response.body);
        const body = response.json<{
          items: Explained[];
          explanationStream: { url: string; expiresAt: string };
        }>();
        t.ok(body.items.length > 0);
        t.ok(
          body.items.every((entry) => !('explanation' in entry)),
          'the page itself carries no explanations',
        );
        t.match(body.explanationStream.url, /^\/v1\/explanations\/[A-Za-z0-9_-]{22}$/);
        t.ok(Date.parse(body.explanationStream.expiresAt) > Date.now());
        // The stream is public (EventSource sends no credentials): the URL is the secret.
        const stream = await api.app.inject({
          method: 'GET',
          url: body.explanationStream.url,
          headers: { accept: 'text/event-stream' },
        });
        t.equal(stream.statusCode, 200, stream.body);
        t.match(stream.headers['content-type'], /^text\/event-stream/);
        const events = parseServerSentEvents(stream.body);
        t.same(
          events.map((event) => event.event),
          [...body.items.map(() => 'explanation'), 'done'],
          'one explanation per item, then done',
        );
        const streamed = events
          .slice(0, -1)
          .map((event) => event.data as { itemId: string; explanation: Explained['explanation'] });
        t.same(streamed.map((event) => event.itemId).sort(), body.items.map((entry) => entry.itemId).sort());
        checkGrounded(
          t,
          body.items.map((entry) => ({
            ...entry,
            explanation: streamed.find((event) => event.itemId === entry.itemId)!.explanation,
          })),
          new Set(['spy']),
        );
        t.same(events.at(-1)!.data, { count: body.items.length });
      }
      const unknown = await api.app.inject({ method: 'GET', url: '/v1/explanations/AAAAAAAAAAAAAAAAAAAAAA' });
      t.equal(unknown.statusCode, 404, unknown.body);
      t.equal(unknown.headers['content-type'], 'application/problem+json; charset=utf-8');
      const malformed = await api.app.inject({ method: 'GET', url: '/v1/explanations/not-an-id' });
      t.equal(malformed.statusCode, 400, malformed.body);
      t.match(malformed.json(), { errors: [{ path: /streamId/ }] });
      for (const url of [`${fanUrl}&explain=yes`, `${fanUrl}&explain=true&locale=not a tag`]) {
        const response = await api.inject({ method: 'GET', url });
        t.equal(response.statusCode, 400, url);
      }
    },
  );
});
