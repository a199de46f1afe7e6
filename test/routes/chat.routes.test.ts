import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import { type ChatQuery, EMPTY_CHAT_QUERY } from '../../src/chat/chat-query.ts';
import type { ChatStrategies } from '../../src/chat/chat-strategies.ts';
import { purgeExpiredChatSessions } from '../../src/services/retention.service.ts';
import { parseServerSentEvents } from '../helpers/server-sent-events.ts';
import { buildTestApp, json, type TestApp } from '../helpers/test-app.ts';

// A small catalog where the right answers are known: Stranger Things and what it is like (kids in a small
// town, the supernatural, the 80s), one horror film of the same kind, and titles of other genres.
const CATALOG: Record<string, Record<string, unknown>> = {
  'stranger-things': {
    type: 'series',
    title: 'Stranger Things',
    description:
      'When a young boy vanishes, a small town uncovers a mystery involving secret experiments, terrifying ' +
      'supernatural forces and one strange little girl.',
    genres: ['TV Horror', 'TV Mysteries', 'TV Sci-Fi & Fantasy'],
    maturityRating: 'TV-14',
    releaseDate: '2016',
  },
  'super-8': {
    type: 'movie',
    title: 'Super 8',
    description:
      'Kids filming a movie in their small town witness a train crash and uncover a mysterious ' +
      'supernatural force the government hides.',
    genres: ['Sci-Fi & Fantasy', 'Thrillers'],
    maturityRating: 'PG-13',
    releaseDate: '2011',
    durationSeconds: 112 * 60,
  },
  et: {
    type: 'movie',
    title: 'E.T.',
    description:
      'A lonely boy in a small town befriends a stranded alien and hides him from secret government agents.',
    genres: ['Sci-Fi & Fantasy', 'Children & Family Movies'],
    maturityRating: 'PG',
    releaseDate: '1982',
    durationSeconds: 115 * 60,
  },
  goonies: {
    type: 'movie',
    title: 'The Goonies',
    description:
      'A gang of kids in a small coastal town find a mysterious treasure map and escape strange criminals.',
    genres: ['Action & Adventure', 'Children & Family Movies'],
    maturityRating: 'PG',
    releaseDate: '1985',
    durationSeconds: 114 * 60,
  },
  it: {
    type: 'movie',
    title: 'It',
    description:
      'In a small town, bullied kids band together against a terrifying supernatural monster that hunts children.',
    genres: ['Horror Movies'],
    maturityRating: 'R',
    releaseDate: '2017',
    durationSeconds: 135 * 60,
  },
  dark: {
    type: 'series',
    title: 'Dark',
    description:
      'A missing child sets four families in a small town on a hunt for answers through a mystery of time travel.',
    genres: ['TV Mysteries', 'TV Sci-Fi & Fantasy'],
    maturityRating: 'TV-MA',
    releaseDate: '2017',
  },
  'space-short': {
    type: 'movie',
    title: 'Drift',
    description: 'A short film: a lone astronaut drifts away from a space station after an accident.',
    genres: ['Sci-Fi & Fantasy'],
    maturityRating: 'PG',
    releaseDate: '2019',
    durationSeconds: 25 * 60,
  },
  'lost-reel': {
    type: 'movie',
    title: 'Lost Reel',
    description: 'Astronauts find a strange signal on the far side of the moon.',
    genres: ['Sci-Fi & Fantasy'],
    maturityRating: 'PG',
    releaseDate: '2015',
  },
  notebook: {
    type: 'movie',
    title: 'The Notebook',
    description: 'A poor young man and a rich young woman fall in love one summer in South Carolina.',
    genres: ['Romantic Movies', 'Dramas'],
    maturityRating: 'PG-13',
    releaseDate: '2004',
    durationSeconds: 123 * 60,
  },
  hangover: {
    type: 'movie',
    title: 'The Hangover',
    description:
      'Three friends wake up after a bachelor party in Las Vegas with no memory and the groom missing.',
    genres: ['Comedies'],
    maturityRating: 'R',
    releaseDate: '2009',
    durationSeconds: 100 * 60,
  },
  paddington: {
    type: 'movie',
    title: 'Paddington',
    description: 'A young bear from Peru travels to London in search of a home and finds a family.',
    genres: ['Children & Family Movies', 'Comedies'],
    maturityRating: 'PG',
    releaseDate: '2014',
    durationSeconds: 95 * 60,
  },
  planet: {
    type: 'series',
    title: 'Our Planet',
    description: 'A wildlife documentary about the habitats of the planet and the animals that live in them.',
    genres: ['Docuseries', 'Science & Nature TV'],
    maturityRating: 'TV-G',
    releaseDate: '2019',
  },
};

interface Found {
  itemId: string;
  score: number;
  item: {
    title: string;
    type: string;
    genres: string[];
    durationSeconds?: number;
    maturityRating?: string;
    releaseDate?: string;
  };
  reasons: { source: string; detail: string; evidenceItemIds: string[] }[];
  explanation?: { text: string };
}
interface Answer {
  sessionId: string;
  reply: string;
  items: Found[];
  appliedQuery: ChatQuery;
}

async function chatApp(t: Test, options: { chat?: Partial<ChatStrategies> } = {}): Promise<TestApp> {
  const api = await buildTestApp(t, options);
  for (const [id, item] of Object.entries(CATALOG)) {
    const response = await api.inject({ method: 'PUT', url: `/v1/items/${id}`, ...json(item) });
    if (response.statusCode !== 201) throw new Error(response.body);
  }
  await api.app.embedding.idle();
  return api;
}

async function chat(t: Test, api: TestApp, body: Record<string, unknown>): Promise<Answer> {
  const response = await api.inject({ method: 'POST', url: '/v1/chat', ...json(body) });
  t.equal(response.statusCode, 200, response.body);
  return response.json<Answer>();
}

const ids = (answer: Answer) => answer.items.map((entry) => entry.itemId);
/** The titles a reply quotes ("X", or « X » in French). */
const quotedIn = (reply: string) =>
  [...reply.matchAll(/"([^"]+)"|\u00ab\u00a0(.+?)\u00a0\u00bb/g)].map((match) => match[1] ?? match[2]!);

t.test('chat on a small catalog', async (t) => {
  const api = await chatApp(t);

  await t.test('"like Stranger Things but a movie, and not horror"', async (t) => {
    const answer = await chat(t, api, {
      message: 'something like Stranger Things but a movie, and not horror',
    });
    t.match(answer.sessionId, /^[0-9a-f-]{36}$/);
    t.same(answer.appliedQuery, {
      semanticText: '',
      referenceTitles: ['Stranger Things'],
      types: ['movie'],
      genres: [],
      excludeGenres: ['horror'],
      yearFrom: null,
      yearTo: null,
      maxMaturityRating: null,
      minDurationMinutes: null,
      maxDurationMinutes: null,
      languages: [],
      mood: null,
    });
    t.ok(answer.items.length > 0);
    t.ok(
      answer.items.every((entry) => entry.item.type === 'movie'),
      'movies only',
    );
    t.notOk(
      answer.items.some((entry) => entry.item.genres.some((genre) => /horror/i.test(genre))),
      'no horror: "It" is left out',
    );
    t.notOk(ids(answer).includes('stranger-things'), 'never the title named');
    t.same(ids(answer).slice(0, 2).sort(), ['et', 'super-8'], 'the small-town kids sci-fi movies first');
    t.ok(ids(answer).includes('goonies'), 'and the small-town kids adventure');
    t.ok(
      answer.items[0]!.reasons.some(
        (reason) => reason.source === 'session' && reason.evidenceItemIds.includes('stranger-things'),
      ),
      'the first item says it comes from the title named',
    );
    const titles = answer.items.map((entry) => entry.item.title);
    t.ok(quotedIn(answer.reply).length > 0, answer.reply);
    t.ok(
      quotedIn(answer.reply).every((title) => titles.includes(title)),
      `the reply quotes only returned titles: ${answer.reply}`,
    );
    t.match(answer.reply, /^Here are|^I found only/);
    t.match(answer.reply, /movies like Stranger Things, without horror/);
  });

  await t.test('the request filters hold on top of the message', async (t) => {
    const answer = await chat(t, api, {
      message: 'a movie like Stranger Things',
      filters: { maxMaturityRating: 'PG', maxDurationSeconds: 7_000 },
    });
    t.ok(answer.items.length > 0);
    t.ok(
      answer.items.every(
        (entry) =>
          ['PG', 'G'].includes(entry.item.maturityRating!) &&
          entry.item.durationSeconds !== undefined &&
          entry.item.durationSeconds <= 7_000,
      ),
      'rating and duration, and items of unknown duration left out',
    );
    t.notOk(ids(answer).includes('lost-reel'), 'no duration, so not under 7000 seconds');
  });

  await t.test('genres, years and running times from words', async (t) => {
    const comedies = await chat(t, api, { message: 'comedies from the 2000s' });
    t.same(comedies.appliedQuery.genres, ['comedy']);
    t.same(ids(comedies), ['hangover'], 'the only comedy released 2000 to 2009');
    t.equal(comedies.reply, 'I found only one comedy title, from the 2000s: "The Hangover".');

    const short = await chat(t, api, { message: 'a sci-fi movie under 30 minutes' });
    t.same(ids(short), ['space-short']);
    const scifi = await chat(t, api, { message: 'sci-fi movies', limit: 50 });
    t.same(ids(scifi).sort(), ['et', 'lost-reel', 'space-short', 'super-8'], 'both sci-fi labels resolve');

    const nothing = await chat(t, api, { message: 'a horror movie for kids under 20 minutes' });
    t.same(nothing.items, []);
    t.equal(
      nothing.reply,
      'I found no horror movies, under 20 minutes, for kids. Try dropping the running time or a less strict age rating.',
    );
  });

  await t.test('a mood the catalog has a genre for is that genre (issue 17, item 4)', async (t) => {
    const scary = await chat(t, api, { message: 'something scary', limit: 50 });
    t.equal(scary.appliedQuery.mood, 'scary');
    t.same(ids(scary).sort(), ['it', 'stranger-things'], 'the horror titles, and only they');
    t.match(scary.reply, /^I found only 2 scary titles: /);

    const family = await chat(t, api, { message: 'a funny movie for the family', limit: 50 });
    t.same(ids(family), ['paddington'], 'the one comedy rated for the family');

    const tense = await chat(t, api, { message: 'a suspenseful sci-fi movie', limit: 50 });
    t.same(ids(tense), ['super-8'], 'the one sci-fi movie that is also a thriller');

    // No documentary is horror: the genre asked for holds, and the mood is searched as a word, as before.
    const documentary = await chat(t, api, { message: 'a scary documentary' });
    t.same(ids(documentary), ['planet']);
    const excluded = await chat(t, api, { message: 'something scary but not horror', limit: 50 });
    t.notOk(
      excluded.items.some((entry) => entry.item.genres.some((genre) => /horror/i.test(genre))),
      'a genre excluded stays excluded whatever the mood reads as',
    );
    const restricted = await chat(t, api, {
      message: 'something scary',
      filters: { genres: ['Comedies'] },
      limit: 50,
    });
    t.same(ids(restricted).sort(), ['hangover', 'paddington'], "the caller's genres win over the mood's");
  });

  await t.test('words go to search; a title the catalog lacks is said so', async (t) => {
    const whales = await chat(t, api, { message: 'a documentary about wildlife' });
    t.equal(whales.items[0]?.itemId, 'planet');
    const unknown = await chat(t, api, { message: 'something like Nowhere Land but funny' });
    t.same(unknown.appliedQuery.referenceTitles, ['Nowhere Land']);
    t.match(unknown.reply, /^I could not find Nowhere Land in the catalog/);
  });

  await t.test('a session: the second message refines the first, "more" shows others', async (t) => {
    const first = await chat(t, api, { message: 'a movie like Stranger Things', limit: 3 });
    const second = await chat(t, api, { sessionId: first.sessionId, message: 'make it shorter', limit: 3 });
    t.equal(second.sessionId, first.sessionId);
    t.same(second.appliedQuery, { ...first.appliedQuery, maxDurationMinutes: 100 });
    t.ok(second.items.length > 0);
    t.ok(
      second.items.every((entry) => (entry.item.durationSeconds ?? Infinity) <= 6_000),
      'all under 100 minutes',
    );
    const third = await chat(t, api, { sessionId: first.sessionId, message: 'more', limit: 3 });
    t.same(third.appliedQuery, second.appliedQuery);
    t.same(
      ids(third).filter((id) => ids(second).includes(id)),
      [],
      'asked again, the items already shown make room for others',
    );
    const row = await api.database.db
      .selectFrom('chat_sessions')
      .selectAll()
      .where('id', '=', first.sessionId)
      .executeTakeFirstOrThrow();
    t.same(
      row.turns.map((turn) => [turn.message, turn.itemIds]),
      [
        ['a movie like Stranger Things', ids(first)],
        ['make it shorter', ids(second)],
        ['more', ids(third)],
      ],
    );
    t.equal(row.turns[1]!.reply, second.reply);
    t.equal(row.user_id, null);
    const ttl = row.expires_at.getTime() - row.updated_at.getTime();
    t.ok(Math.abs(ttl - 24 * 3_600_000) < 60_000, 'expires 24 hours after the last message');
  });

  await t.test("unknown, expired and other users' sessions are the same 404", async (t) => {
    const unknown = await api.inject({
      method: 'POST',
      url: '/v1/chat',
      ...json({ sessionId: randomUUID(), message: 'hello' }),
    });
    t.equal(unknown.statusCode, 404);
    t.match(unknown.headers['content-type'], /application\/problem\+json/);
    t.match(unknown.json(), {
      type: 'urn:marquee:problem:not-found',
      detail: /does not exist or has expired/,
    });

    const alices = await chat(t, api, { userId: 'alice', message: 'a comedy' });
    for (const body of [
      { sessionId: alices.sessionId, userId: 'bob', message: 'more' },
      { sessionId: alices.sessionId, message: 'more' },
    ]) {
      const response = await api.inject({ method: 'POST', url: '/v1/chat', ...json(body) });
      t.equal(response.statusCode, 404, JSON.stringify(body));
      t.equal(response.json().detail, unknown.json().detail.replace(/"[^"]+"/, `"${alices.sessionId}"`));
    }
    t.equal(
      (
        await api.inject({
          method: 'POST',
          url: '/v1/chat',
          ...json({ sessionId: alices.sessionId, userId: 'alice', message: 'more' }),
        })
      ).statusCode,
      200,
      'alice continues her own',
    );

    const anonymous = await chat(t, api, { message: 'a comedy' });
    await api.database.db
      .updateTable('chat_sessions')
      .set({ expires_at: new Date(Date.now() - 1_000) })
      .where('id', '=', anonymous.sessionId)
      .execute();
    const expired = await api.inject({
      method: 'POST',
      url: '/v1/chat',
      ...json({ sessionId: anonymous.sessionId, message: 'more' }),
    });
    t.equal(expired.statusCode, 404, 'expired: never loaded, even before the purge');
    t.equal(await purgeExpiredChatSessions(api.app.db), 1, 'the purge deletes it');
    t.equal(await purgeExpiredChatSessions(api.app.db), 0);
  });

  await t.test('a known user: consumed items are not offered; export and erasure', async (t) => {
    const events = await api.inject({
      method: 'POST',
      url: '/v1/events',
      ...json({ events: [{ userId: 'carol', itemId: 'super-8', type: 'complete' }] }),
    });
    t.equal(events.statusCode, 200, events.body);
    const answer = await chat(t, api, {
      userId: 'carol',
      message: 'something like Stranger Things but a movie',
    });
    t.notOk(ids(answer).includes('super-8'), 'carol finished Super 8');
    t.ok(answer.items.length > 0);
    const search = await chat(t, api, { userId: 'carol', message: 'kids in a small town' });
    t.notOk(ids(search).includes('super-8'), 'not from search either');

    const newcomer = await chat(t, api, { userId: 'dave', message: 'a family comedy' });
    const exported = await api.inject({ method: 'GET', url: '/v1/users/dave/export' });
    t.equal(exported.statusCode, 200, 'a first chat creates the user, like a first event');
    t.match(exported.json().chatSessions, [
      {
        id: newcomer.sessionId,
        turns: [
          {
            message: 'a family comedy',
            itemIds: ids(newcomer),
            reply: newcomer.reply,
            appliedQuery: { genres: ['comedy'] },
          },
        ],
      },
    ]);
    t.equal(exported.json().chatSessions.length, 1);
    const erased = await api.inject({ method: 'DELETE', url: '/v1/users/dave' });
    t.equal(erased.statusCode, 204);
    const left = await api.database.db
      .selectFrom('chat_sessions')
      .select('id')
      .where('id', '=', newcomer.sessionId)
      .execute();
    t.same(left, [], 'erasure deletes the sessions');
    const after = await api.inject({
      method: 'POST',
      url: '/v1/chat',
      ...json({ sessionId: newcomer.sessionId, userId: 'dave', message: 'more' }),
    });
    t.equal(after.statusCode, 404);
  });

  await t.test('the streaming form: items, then the reply in pieces, then done', async (t) => {
    const request = json({
      message: 'something like Nowhere Land or Stranger Things but a movie, not horror',
      limit: 4,
    });
    const response = await api.inject({
      method: 'POST',
      url: '/v1/chat',
      ...request,
      headers: { ...request.headers, accept: 'text/event-stream' },
    });
    t.equal(response.statusCode, 200, response.body);
    t.match(response.headers['content-type'], /^text\/event-stream/);
    t.equal(response.headers['content-language'], 'en');
    const events = parseServerSentEvents(response.body);
    const names = events.map((event) => event.event);
    t.equal(names[0], 'items');
    t.equal(names.at(-1), 'done');
    t.ok(names.slice(1, -1).length >= 2, `reply pieces: ${names.join(', ')}`);
    t.ok(names.slice(1, -1).every((name) => name === 'reply'));
    const head = events[0]!.data as Answer;
    const done = events.at(-1)!.data as { sessionId: string; reply: string };
    t.equal(done.sessionId, head.sessionId);
    t.equal(head.items.length, 4);
    t.same(head.appliedQuery.types, ['movie']);
    t.equal(
      events
        .slice(1, -1)
        .map((event) => (event.data as { text: string }).text)
        .join(''),
      done.reply,
      'the pieces make the reply',
    );
    const titles = head.items.map((entry) => entry.item.title);
    t.ok(quotedIn(done.reply).every((title) => titles.includes(title)));
    t.same(
      head.items
        .slice(0, 2)
        .map((entry) => entry.itemId)
        .sort(),
      ['et', 'super-8'],
      'the title found leads; the one not found adds no noise',
    );
    const next = await chat(t, api, { sessionId: head.sessionId, message: 'make it shorter' });
    t.same(
      next.appliedQuery.referenceTitles,
      ['Nowhere Land', 'Stranger Things'],
      'the streamed turn was stored',
    );
  });

  await t.test('explanations and French', async (t) => {
    const response = await api.inject({
      method: 'POST',
      url: '/v1/chat',
      ...json({ message: 'a movie like Stranger Things', explain: true, locale: 'fr', limit: 3 }),
    });
    t.equal(response.statusCode, 200, response.body);
    t.equal(response.headers['content-language'], 'fr');
    const answer = response.json<Answer>();
    t.ok(answer.items.every((entry) => typeof entry.explanation?.text === 'string'));
    t.match(answer.reply, /^Voici 3 films dans l’esprit de Stranger Things/);
    const titles = answer.items.map((entry) => entry.item.title);
    t.ok(
      quotedIn(answer.reply).every((title) => titles.includes(title)),
      answer.reply,
    );
  });

  await t.test('a title only typed in the chat is never one "you just viewed"', async (t) => {
    const response = await api.inject({
      method: 'POST',
      url: '/v1/chat',
      ...json({ message: 'a movie like Stranger Things', explain: true, limit: 5 }),
    });
    t.equal(response.statusCode, 200, response.body);
    const answer = response.json<Answer>();
    const texts = answer.items.map((entry) => entry.explanation?.text ?? '');
    t.ok(texts.length > 0 && texts.every((text) => text !== ''), texts.join(' | '));
    t.ok(
      texts.every((text) => !/just viewed|you enjoyed/.test(text)),
      `no sentence claims a viewing: ${texts.join(' | ')}`,
    );
    t.ok(
      texts.some((text) => text.includes('Stranger Things')),
      'the typed title is still cited',
    );
  });

  await t.test('bad input is a 400 problem naming the field, never a 500', async (t) => {
    for (const [body, field] of [
      [{}, 'body.message'],
      [{ message: '' }, 'body.message'],
      [{ message: '   ' }, 'body.message'],
      [{ message: 'x'.repeat(2_001) }, 'body.message'],
      [{ message: 'hi', limit: 0 }, 'body.limit'],
      [{ message: 'hi', limit: 51 }, 'body.limit'],
      [{ message: 'hi', limit: 'ten' }, 'body.limit'],
      [{ message: 'hi', sessionId: 'not-a-session' }, 'body.sessionId'],
      [{ message: 'hi', userId: 'not an id' }, 'body.userId'],
      [{ message: 'hi', filters: { maxDurationSeconds: -1 } }, 'body.filters.maxDurationSeconds'],
      [
        { message: 'hi', filters: { minDurationSeconds: 600, maxDurationSeconds: 60 } },
        'body.filters.maxDurationSeconds',
      ],
      [{ message: 'hi', filters: { colour: 'red' } }, 'body.filters'],
      [{ message: 'hi', locale: 'not a locale' }, 'body.locale'],
      [{ message: 'hi', stream: true }, 'body'],
    ] as const) {
      const response = await api.inject({ method: 'POST', url: '/v1/chat', ...json(body) });
      t.equal(response.statusCode, 400, `${JSON.stringify(body).slice(0, 60)}: ${response.body}`);
      t.match(response.headers['content-type'], /problem\+json/);
      t.match(response.json().errors, [{ path: new RegExp(`^${field.replace(/\./g, '\\.')}`) }], field);
    }
  });

  await t.test('access: client keys, and a user token for its own user only', async (t) => {
    const keyFor = async (scopes: string[]) =>
      (
        await api.inject({
          method: 'POST',
          url: '/v1/admin/keys',
          ...json({ name: scopes.join('+'), scopes }),
        })
      ).json().key as string;
    const token = (
      await api.inject({ method: 'POST', url: '/v1/admin/user-tokens', ...json({ userId: 'erin' }) })
    ).json().token as string;
    const [read, client] = [await keyFor(['read']), await keyFor(['client'])];
    const post = (credential: string, body: Record<string, unknown>) => {
      const request = json(body);
      return api.inject({
        method: 'POST',
        url: '/v1/chat',
        ...request,
        headers: { ...request.headers, authorization: `Bearer ${credential}` },
      });
    };
    t.equal((await post(read, { message: 'a comedy' })).statusCode, 403, 'a read key may not');
    t.equal((await post(client, { message: 'a comedy' })).statusCode, 200);
    t.equal((await post(client, { message: 'a comedy', userId: 'anyone' })).statusCode, 200);
    t.equal((await post(token, { message: 'a comedy', userId: 'erin' })).statusCode, 200);
    t.equal((await post(token, { message: 'a comedy', userId: 'bob' })).statusCode, 403);
    t.equal((await post(token, { message: 'a comedy' })).statusCode, 403, 'a token names its user');
  });
});

t.test('pluggable strategies: a parser and a writer of its own, the offline ones as fallback', async (t) => {
  let calls = 0;
  const api = await chatApp(t, {
    chat: {
      parser: {
        name: 'test-parser',
        parse: async (input) => {
          calls++;
          if (input.message === 'fail') throw new Error('parser down');
          if (input.message === 'prototype words')
            return {
              ...EMPTY_CHAT_QUERY,
              types: ['constructor', '__proto__', 'toString'],
              genres: ['constructor'],
              excludeGenres: ['__proto__'],
            };
          if (input.message === 'hostile')
            return {
              semanticText: 'small town <img src=x onerror=alert(1)>',
              referenceTitles: ['<script>x</script>', 'Stranger Things'],
              types: ['film', 'javascript:alert(1)'],
              genres: [],
              excludeGenres: ['Horror', 'see www.example.com'],
              yearFrom: null,
              yearTo: null,
              maxMaturityRating: null,
              minDurationMinutes: null,
              maxDurationMinutes: null,
              languages: ['\u202een'],
              mood: '<script>x</script>',
            };
          return {
            semanticText: '',
            referenceTitles: ['Stranger Things'],
            types: ['film'],
            genres: [],
            excludeGenres: ['Horror'],
            yearFrom: null,
            yearTo: null,
            maxMaturityRating: 'not-a-rating',
            minDurationMinutes: null,
            maxDurationMinutes: null,
            languages: [],
            mood: null,
          };
        },
      },
      replyWriter: {
        name: 'test-writer',
        async *write(context) {
          if (context.message === 'broken writer') throw new Error('writer down');
          yield 'Written by the test writer: ';
          yield context.items.map((entry) => entry.item.title).join(', ');
        },
      },
    },
  });
  const answer = await chat(t, api, { message: 'anything' });
  t.equal(calls, 1);
  t.ok(answer.items.length > 0);
  t.ok(
    answer.items.every((entry) => entry.item.type === 'movie'),
    '"film" is the movie type',
  );
  t.same(answer.appliedQuery.types, ['movie'], 'as applied');
  t.equal(answer.appliedQuery.maxMaturityRating, null, 'a rating the scale does not know is not applied');
  t.notOk(answer.items.some((entry) => entry.item.genres.includes('Horror Movies')));
  t.match(answer.reply, /^Written by the test writer: /);

  const hostile = await chat(t, api, { message: 'hostile' });
  t.same(
    { ...hostile.appliedQuery },
    {
      semanticText: '',
      referenceTitles: ['Stranger Things'],
      types: ['movie'],
      genres: [],
      excludeGenres: ['Horror'],
      yearFrom: null,
      yearTo: null,
      maxMaturityRating: null,
      minDurationMinutes: null,
      maxDurationMinutes: null,
      languages: [],
      mood: null,
    },
    "a plug-in parser's fields that are not plain text are dropped, the rest applied",
  );

  // Words that name properties of every object are words like others: no lookup may find them in a table.
  const prototypeWords = await chat(t, api, { message: 'prototype words' });
  t.same(prototypeWords.items, [], 'no item is of those types');

  const fallback = await chat(t, api, { message: 'fail' });
  t.same(fallback.appliedQuery.semanticText, 'fail', 'the rules parsed it');
  const template = await chat(t, api, { message: 'broken writer' });
  t.match(template.reply, /^Here are|^I found/, 'the template wrote the reply');
});

t.test('the offline reply repeats no markup or link from the message, JSON or streamed', async (t) => {
  const api = await chatApp(t);
  for (const message of [
    'a movie like "<img src=x onerror=alert(1)>"',
    'something like <script>x</script>',
    'films like javascript:alert(1) or www.example.com',
  ]) {
    const answer = await chat(t, api, { message });
    const streamed = await api.inject({
      method: 'POST',
      url: '/v1/chat',
      headers: { accept: 'text/event-stream', 'content-type': 'application/json' },
      payload: JSON.stringify({ message }),
    });
    t.equal(streamed.statusCode, 200, streamed.body);
    const pieces = parseServerSentEvents(streamed.body)
      .filter((event) => event.event === 'reply')
      .map((event) => (event.data as { text: string }).text);
    for (const reply of [answer.reply, pieces.join('')]) {
      t.ok(reply.length > 0, reply);
      t.notMatch(reply, /<|>|onerror|script|www\.|example\.com/, `${message}: ${reply}`);
    }
  }
});
