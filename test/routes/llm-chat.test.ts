import t, { type Test } from 'tap';
import { type ChatQuery, EMPTY_CHAT_QUERY } from '../../src/chat/chat-query.ts';
import {
  type ChatReply,
  type ChatRequestBody,
  type ChatScript,
  type OpenAiTestServer,
  startOpenAiTestServer,
} from '../helpers/openai-test-server.ts';
import { importNetflix, netflixAbsent } from '../helpers/netflix.ts';
import { parseServerSentEvents } from '../helpers/server-sent-events.ts';
import { buildTestApp, json, type TestApp } from '../helpers/test-app.ts';

// Chat with a language model (the local OpenAI-compatible server plays it): the message becomes a structured
// query through structured output, the engine retrieves, and the reply is checked sentence by sentence so
// that it names only returned titles. Failures fall back to the rule-based parser and the template reply.

t.setTimeout(400_000);

interface Answer {
  sessionId: string;
  reply: string;
  items: { itemId: string; item: { title: string; type: string; genres: string[] } }[];
  appliedQuery: ChatQuery;
}

const chatCalls = (server: OpenAiTestServer) =>
  server.requests.filter((request) => request.path === '/v1/chat/completions');
const isQueryCall = (body: ChatRequestBody) =>
  (body.response_format as { json_schema?: { name?: string } } | undefined)?.json_schema?.name ===
    'chat_query' || String(body.messages?.[0]?.content).includes('into a search query');

/** The results block of a reply prompt: what the model may talk about. */
function replyResults(body: ChatRequestBody): { title: string }[] {
  const user = String(body.messages?.find((message) => message.role === 'user')?.content);
  const match = /<data>\n([\s\S]*)\n<\/data>/.exec(user);
  return (JSON.parse(match![1]!) as { results: { title: string }[] }).results;
}

/** A model that parses into `query` and replies about the first two results, plus `extra` sentences. */
function scriptedModel(query: ChatQuery, extra = ''): (body: ChatRequestBody) => ChatReply {
  return (body) => {
    if (isQueryCall(body)) return JSON.stringify(query);
    // An explanation call (explain=true): this model leaves them to the templates.
    if (String(body.messages?.[0]?.content).includes('one-sentence explanations'))
      return JSON.stringify({ explanations: [] });
    const [first, second] = replyResults(body);
    return {
      content: `Here are picks that fit what you asked. "${first!.title}" and "${second!.title}" lead the list.${extra}`,
      chunkDelayMs: 1,
    };
  };
}

async function setUp(t: Test, env: Record<string, string> = {}, model?: ChatScript) {
  const server = await startOpenAiTestServer(typeof model === 'function' ? { chat: model } : {});
  t.teardown(() => server.close());
  const api = await buildTestApp(t, {
    env: { OPENAI_BASE_URL: server.url, MARQUEE_LLM_MAX_RETRIES: '0', ...env },
  });
  return { server, api };
}

async function seedSmallCatalog(api: TestApp) {
  const catalog: [string, string, string, string][] = [
    ['m1', 'movie', 'Space Rescue', 'science fiction'],
    ['m2', 'movie', 'Orbit Down', 'science fiction'],
    ['m3', 'movie', 'Haunted Hall', 'horror'],
    ['m4', 'movie', 'Laugh Track', 'comedy'],
    ['s1', 'series', 'Star Patrol', 'science fiction'],
  ];
  for (const [id, type, title, genre] of catalog) {
    const response = await api.inject({
      method: 'PUT',
      url: `/v1/items/${id}`,
      ...json({ type, title, genres: [genre], description: `A ${genre} story about ${title.toLowerCase()}` }),
    });
    if (response.statusCode !== 201) throw new Error(response.body);
  }
  await api.app.embedding.idle();
}

t.test('the LLM parses the message and writes the reply; ungrounded sentences are dropped', async (t) => {
  const { server, api } = await setUp(t);
  await seedSmallCatalog(api);
  server.reset();
  const query: ChatQuery = { ...EMPTY_CHAT_QUERY, semanticText: 'space adventure', types: ['movie'] };
  server.scriptChat(
    scriptedModel(query, ' You could also try "Galaxy Quest 9", a fan favourite.'),
    scriptedModel(query),
  );
  const response = await api.inject({
    method: 'POST',
    url: '/v1/chat',
    ...json({ message: 'I want a space adventure film', limit: 3 }),
  });
  t.equal(response.statusCode, 200, response.body);
  const answer = response.json<Answer>();
  t.same(answer.appliedQuery, query, 'the LLM query was applied');
  t.ok(answer.items.length > 0 && answer.items.every((entry) => entry.item.type === 'movie'));
  const calls = chatCalls(server).map((request) => request.body as ChatRequestBody);
  t.equal(calls.length, 2, 'one call to understand, one to reply');
  t.match(calls[0]!.response_format, {
    type: 'json_schema',
    json_schema: { name: 'chat_query', strict: true },
  });
  t.equal(calls[0]!.model, 'gpt-4o-mini', 'MARQUEE_CHAT_MODEL by default');
  t.match(calls[1], { stream: true });
  t.notMatch(answer.reply, /Galaxy Quest/, 'the sentence naming a title that was not returned is dropped');
  const titles = new Set(answer.items.map((entry) => entry.item.title));
  const quoted = [...answer.reply.matchAll(/"([^"]+)"/g)].map((match) => match[1]!);
  t.ok(quoted.length >= 2 && quoted.every((title) => titles.has(title)), answer.reply);
});

t.test(
  'the LLM failing or slow: the rules parse, the template replies, within the chat budget',
  async (t) => {
    const { server, api } = await setUp(t, {
      MARQUEE_CHAT_BUDGET_MS: '500',
      MARQUEE_LLM_CIRCUIT_FAILURES: '100',
    });
    await seedSmallCatalog(api);
    server.reset();
    server.failNext(1, { status: 500, path: '/v1/chat/completions' });
    server.scriptChat('this is not json');
    const failed = await api.inject({
      method: 'POST',
      url: '/v1/chat',
      ...json({ message: 'a science fiction movie, not horror', limit: 3 }),
    });
    t.equal(failed.statusCode, 200, failed.body);
    const answer = failed.json<Answer>();
    t.same(answer.appliedQuery.types, ['movie'], 'the rules understood the message');
    t.same(answer.appliedQuery.excludeGenres, ['horror']);
    t.ok(answer.items.every((entry) => entry.item.type === 'movie' && !entry.item.genres.includes('horror')));
    t.ok(answer.reply.length > 0, 'the template replied');

    server.reset();
    server.setLatency(5_000);
    const started = performance.now();
    const slow = await api.inject({
      method: 'POST',
      url: '/v1/chat',
      ...json({ message: 'a comedy movie', limit: 3 }),
    });
    const elapsed = performance.now() - started;
    t.equal(slow.statusCode, 200, slow.body);
    t.ok(elapsed < 2 * 500 + 700, `answered in ${Math.round(elapsed)} ms: two calls of at most 500 ms`);
    t.same(slow.json<Answer>().appliedQuery.genres, ['comedy']);
    t.ok(slow.json<Answer>().reply.length > 0);
  },
);

t.test('hostile output: nothing a hostile model writes reaches the viewer unchecked', async (t) => {
  // One model whose answers each subtest sets: the query it parses, and the reply it writes.
  let parsed: (body: ChatRequestBody) => ChatQuery = () => EMPTY_CHAT_QUERY;
  let replied: (body: ChatRequestBody) => ChatReply = () => '';
  const { server, api } = await setUp(t, { MARQUEE_CHAT_BUDGET_MS: '30000' }, (body) =>
    isQueryCall(body) ? JSON.stringify(parsed(body)) : replied(body),
  );
  await seedSmallCatalog(api);
  const space: ChatQuery = { ...EMPTY_CHAT_QUERY, semanticText: 'space adventure', types: ['movie'] };
  const systemPrompt = (body: ChatRequestBody) =>
    String(body.messages?.find((message) => message.role === 'system')?.content);

  /** The turn as JSON and as server-sent events: what was applied, and the reply as the viewer reads it. */
  async function bothForms(message: string) {
    const plain = await api.inject({ method: 'POST', url: '/v1/chat', ...json({ message, limit: 3 }) });
    t.equal(plain.statusCode, 200, plain.body);
    const started = performance.now();
    const streamed = await api.inject({
      method: 'POST',
      url: '/v1/chat',
      headers: { accept: 'text/event-stream', 'content-type': 'application/json' },
      payload: JSON.stringify({ message, limit: 3 }),
    });
    const streamMs = performance.now() - started;
    t.equal(streamed.statusCode, 200, streamed.body);
    const events = parseServerSentEvents(streamed.body);
    t.equal(events.at(-1)!.event, 'done', 'the stream ends normally');
    const pieces = events
      .filter((event) => event.event === 'reply')
      .map((event) => (event.data as { text: string }).text);
    t.equal(pieces.join(''), (events.at(-1)!.data as { reply: string }).reply, 'the pieces are the reply');
    return {
      streamMs,
      forms: [
        { form: 'JSON', ...plain.json<Answer>() },
        { form: 'events', ...(events[0]!.data as Answer), reply: pieces.join('') },
      ],
    };
  }

  await t.test('parsed fields: hostile ones are dropped, never returned nor quoted', async (t) => {
    parsed = () => ({
      ...EMPTY_CHAT_QUERY,
      mood: '<script>x</script>',
      semanticText: 'space <img src=x onerror=alert(1)>',
      referenceTitles: ['<img src=x onerror=alert(1)>', 'Nowhere Film'],
      types: ['movie', '<b>'],
      genres: ['science fiction', 'javascript:alert(1)'],
      excludeGenres: ['horror', 'Call +1 800 555 0199'],
      languages: ['"><script>'],
      maxMaturityRating: '<i>',
    });
    replied = () => ''; // No reply: the template writes it, from the query.
    for (const answer of (await bothForms('space films, with a twist')).forms) {
      t.same(
        answer.appliedQuery,
        {
          ...EMPTY_CHAT_QUERY,
          referenceTitles: ['Nowhere Film'],
          types: ['movie'],
          genres: ['science fiction'],
          excludeGenres: ['horror'],
        },
        `${answer.form}: the plain fields are kept, the others dropped`,
      );
      t.match(
        answer.reply,
        /^I could not find Nowhere Film in the catalog/,
        `${answer.form}: ${answer.reply}`,
      );
      t.notMatch(
        answer.reply,
        /<|>|script|onerror|javascript|0199/,
        `${answer.form}: nothing hostile quoted`,
      );
      t.notMatch(JSON.stringify(answer.appliedQuery), /<|>|script|onerror|javascript|0199/);
    }
  });

  await t.test('reply sentences with markup, phone numbers or scams are dropped', async (t) => {
    parsed = () => space;
    replied = (body) => {
      const [first, second] = replyResults(body);
      return {
        content: [
          'Here are picks that fit what you asked.',
          `"${first!.title}" comes with a motto: &lt;img src=x onerror=alert(1)&gt; for all.`,
          `**Watch "${first!.title}" tonight.**`,
          'Call +1 800 555 0199 and give your card number.',
          'To keep watching, verify your account today.',
          `"${first!.title}" and "${second!.title}" lead the list.`,
        ].join(' '),
        chunkDelayMs: 1,
      };
    };
    for (const answer of (await bothForms('a space adventure film')).forms) {
      t.match(answer.reply, /^Here are picks that fit what you asked\. "[^"]+" and "[^"]+" lead the list\.$/);
      t.notMatch(answer.reply, /img|onerror|\*\*|0199|card number|verify/, `${answer.form}: ${answer.reply}`);
    }
  });

  await t.test('the system prompt echoed back is dropped, from the reply and from the query', async (t) => {
    let parserPrompt = '';
    let replyPrompt = '';
    parsed = (body) => {
      parserPrompt = systemPrompt(body);
      return { ...space, semanticText: parserPrompt.slice(0, 300) };
    };
    replied = (body) => {
      replyPrompt = systemPrompt(body);
      return { content: replyPrompt, chunkDelayMs: 1 };
    };
    for (const answer of (await bothForms('a space adventure film')).forms) {
      t.equal(
        answer.appliedQuery.semanticText,
        '',
        `${answer.form}: the echoed instructions are not applied`,
      );
      t.match(answer.reply, /^(Here are|I found)/, `${answer.form}: the template replied: ${answer.reply}`);
      for (const line of [...parserPrompt.split('\n'), ...replyPrompt.split('\n')])
        t.notOk(answer.reply.includes(line.slice(0, 30)), `${answer.form}: no "${line.slice(0, 30)}"`);
    }
  });

  await t.test('2,000 streamed sentences: the reply is capped and the model stopped', async (t) => {
    parsed = () => space;
    replied = (body) => {
      const [first] = replyResults(body);
      const sentences = Array.from(
        { length: 2_000 },
        (_, n) => `"${first!.title}" is pick ${n + 1} for you.`,
      );
      // About eight words a sentence at a millisecond each: read to the end, more than 15 seconds.
      return { content: sentences.join(' '), chunkDelayMs: 1 };
    };
    const { forms, streamMs } = await bothForms('a space adventure film');
    for (const answer of forms) {
      const sentences = answer.reply.match(/[.!?](?= |$)/g) ?? [];
      t.ok(sentences.length >= 1 && sentences.length <= 4, `${answer.form}: ${sentences.length} sentences`);
      t.ok(answer.reply.length <= 600, `${answer.form}: ${answer.reply.length} characters`);
    }
    t.ok(streamMs < 5_000, `the streamed turn took ${Math.round(streamMs)} ms: the model was not read on`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    t.equal(server.inFlight, 0, 'and the connection to the model is closed');
  });
});

t.test(
  'netflix with an LLM: "something like Stranger Things but a movie, and not horror"',
  { skip: netflixAbsent },
  async (t) => {
    const query: ChatQuery = {
      ...EMPTY_CHAT_QUERY,
      semanticText: 'kids facing supernatural mysteries in a small town',
      referenceTitles: ['Stranger Things'],
      types: ['movie'],
      excludeGenres: ['horror'],
    };
    // The model's reply also recommends a horror film the engine did not return: that sentence must go.
    const { server, api } = await setUp(t, {}, scriptedModel(query, ' For a scare, "Jaws 2" is a classic.'));
    await importNetflix(t, api.inject);
    server.reset();

    const message = 'something like Stranger Things but a movie, and not horror';
    const response = await api.inject({
      method: 'POST',
      url: '/v1/chat',
      headers: { accept: 'text/event-stream', 'content-type': 'application/json' },
      payload: JSON.stringify({ message, explain: true }),
    });
    t.equal(response.statusCode, 200, response.body);
    const events = parseServerSentEvents(response.body);
    t.equal(events[0]!.event, 'items', 'the items come first');
    t.equal(events.at(-1)!.event, 'done');
    const page = events[0]!.data as Answer;
    const reply = events
      .filter((event) => event.event === 'reply')
      .map((event) => (event.data as { text?: string }).text ?? String(event.data))
      .join('');
    t.comment(`reply: ${reply}`);
    t.comment(
      page.items.map((entry) => `  ${entry.item.title} (${entry.item.genres.join(', ')})`).join('\n'),
    );
    t.equal(page.items.length, 10);
    t.ok(
      page.items.every((entry) => entry.item.type === 'movie'),
      'movies only',
    );
    t.notOk(
      page.items.some((entry) => entry.item.genres.some((genre) => /horror/i.test(genre))),
      'none of them horror',
    );
    t.notOk(page.items.some((entry) => entry.item.title === 'Stranger Things'));
    const returned = new Set(page.items.map((entry) => entry.item.title));
    const quoted = [...reply.matchAll(/"([^"]+)"/g)].map((match) => match[1]!);
    t.ok(quoted.length >= 2, reply);
    t.ok(
      quoted.every((title) => returned.has(title)),
      'the reply names only returned titles',
    );
    t.notMatch(reply, /Jaws/);
    t.match(reply, /^Here are picks that fit what you asked\./, "the reply is the model's");
    t.equal(
      chatCalls(server).filter((request) => isQueryCall(request.body as ChatRequestBody)).length,
      1,
      'one call understood the message',
    );
    t.ok(
      (page.items as { explanation?: { text: string } }[]).every((entry) => entry.explanation?.text),
      'explain=true explains chat items too',
    );
  },
);
