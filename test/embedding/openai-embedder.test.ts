import { sql } from 'kysely';
import { APIConnectionTimeoutError, InternalServerError } from 'openai';
import t, { type Test } from 'tap';
import { createEmbedder } from '../../src/embedding/create-embedder.ts';
import { itemEmbeddingText } from '../../src/embedding/item-text.ts';
import {
  createOpenAiEmbedder,
  decodeEmbedding,
  type OpenAiEmbedderOptions,
} from '../../src/embedding/openai-embedder.ts';
import { createAppMetrics } from '../../src/metrics.ts';
import {
  deterministicEmbedding,
  estimateTestTokens,
  type OpenAiTestServer,
  type OpenAiTestServerOptions,
  startOpenAiTestServer,
} from '../helpers/openai-test-server.ts';
import { buildTestApp, json, testConfig } from '../helpers/test-app.ts';

const MODEL = 'test-embedding-model';
const DIMENSION = 64;

async function startServer(t: Test, options: OpenAiTestServerOptions = {}): Promise<OpenAiTestServer> {
  const server = await startOpenAiTestServer(options);
  t.teardown(() => server.close());
  return server;
}

const embedderFor = (server: OpenAiTestServer, overrides: Partial<OpenAiEmbedderOptions> = {}) =>
  createOpenAiEmbedder({
    space: { provider: 'openai', model: MODEL, dimension: DIMENSION },
    apiKey: 'sk-test',
    baseUrl: server.url,
    batchSize: 128,
    batchTokens: 60_000,
    concurrency: 4,
    timeoutMs: 5_000,
    maxRetries: 2,
    ...overrides,
  });

const texts = (count: number, prefix = 'text') =>
  Array.from({ length: count }, (_, index) => `${prefix} ${index}: ${'word '.repeat(index % 7)}`);

const norm = (vector: ArrayLike<number>) => Math.sqrt(Array.from(vector).reduce((sum, x) => sum + x * x, 0));
const maxDifference = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((worst, value, index) => Math.max(worst, Math.abs(value - (b[index] ?? 0))), 0);

/** The input arrays of the embeddings requests the server received. */
const sentInputs = (server: OpenAiTestServer) =>
  server.requests
    .filter((request) => request.path === '/v1/embeddings')
    .map((request) => (request.body as { input: string[] }).input);

t.test('vectors come back in input order, unit length, of the configured dimension and model', async (t) => {
  // The server answers the entries in reverse order: only their `index` says which input each is for.
  const server = await startServer(t, { reverseEmbeddingOrder: true, apiKey: 'sk-test' });
  const inputs = ['A crew plans a heist.', 'A chef cooks pasta.', 'Robots on Mars.', 'A quiet drama.'];
  const vectors = await embedderFor(server).embed(inputs);

  t.equal(vectors.length, inputs.length);
  vectors.forEach((vector, index) => {
    t.equal(vector.length, DIMENSION);
    t.ok(Math.abs(norm(vector) - 1) < 1e-5, `vector ${index} has unit length`);
    t.ok(
      maxDifference(vector, deterministicEmbedding(inputs[index]!, DIMENSION)) < 1e-6,
      `vector ${index} is the server's vector for input ${index}`,
    );
  });
  t.equal(server.requests.length, 1);
  const [request] = server.requests;
  t.match(request?.body, { model: MODEL, dimensions: DIMENSION, encoding_format: 'base64', input: inputs });
  t.equal(request?.headers.authorization, 'Bearer sk-test', 'the API key is sent');
  t.same(await embedderFor(server).embed([]), [], 'no texts, no request');
  t.equal(server.requests.length, 1);
});

t.test('a server that ignores encoding_format and answers numbers gives the same vectors', async (t) => {
  const server = await startServer(t, { ignoreEncodingFormat: true });
  const inputs = texts(5);
  const vectors = await embedderFor(server).embed(inputs);
  t.equal(vectors.length, inputs.length);
  vectors.forEach((vector, index) => {
    t.ok(vector instanceof Float32Array);
    t.ok(
      maxDifference(vector, deterministicEmbedding(inputs[index]!, DIMENSION)) < 1e-6,
      `vector ${index} is the server's vector for input ${index}`,
    );
  });
});

t.test('decodeEmbedding: little-endian float32 in base64, arrays as they are, anything else refused', (t) => {
  const values = [0.5, -1.25, 3e-8, 1234.5];
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => bytes.writeFloatLE(value, index * 4));
  t.same(Array.from(decodeEmbedding(bytes.toString('base64'))), Array.from(Float32Array.from(values)));
  // A base64 string that is not at a 4-byte boundary of its buffer still decodes (no aligned view needed).
  t.same(
    Array.from(decodeEmbedding(bytes.subarray(4).toString('base64'))),
    Array.from(Float32Array.from(values.slice(1))),
  );
  t.same(Array.from(decodeEmbedding([1, 2, 3])), [1, 2, 3]);
  t.throws(() => decodeEmbedding(Buffer.alloc(6).toString('base64')), /6 bytes of base64, not whole float32/);
  t.throws(() => decodeEmbedding({ vector: [1] }), /neither base64 nor an array/);
  t.end();
});

t.test('batching: by input count, and by estimated tokens for long texts', async (t) => {
  const server = await startServer(t);
  const many = texts(35);
  const vectors = await embedderFor(server, { batchSize: 10 }).embed(many);
  t.same(
    sentInputs(server).map((input) => input.length),
    [10, 10, 10, 5],
    '35 texts in batches of 10 make 4 requests',
  );
  t.same(sentInputs(server).flat(), many, 'every text sent once, in order');
  vectors.forEach((vector, index) => {
    if (maxDifference(vector, deterministicEmbedding(many[index]!, DIMENSION)) > 1e-6)
      t.fail(`vector ${index} does not belong to text ${index}`);
  });

  server.reset();
  // About 100 tokens each (4 characters a token): a 250-token budget takes two of them per request.
  const long = Array.from({ length: 5 }, (_, index) => `${index} ${'x'.repeat(400)}`);
  const mixed = [...long, 'short one', 'short two'];
  await embedderFor(server, { batchSize: 100, batchTokens: 250 }).embed(mixed);
  t.same(
    sentInputs(server).map((input) => input.length),
    [2, 2, 3],
    'the token budget splits long texts into more requests',
  );
  t.same(sentInputs(server).flat(), mixed);
});

t.test('bounded concurrency: never more requests in flight than configured', async (t) => {
  const server = await startServer(t, { latencyMs: 100 });
  const timed = async (concurrency: number) => {
    server.reset();
    const embedder = embedderFor(server, { batchSize: 1, concurrency });
    const started = performance.now();
    // Two callers at once: the limit holds across all callers of one embedder.
    await Promise.all([embedder.embed(texts(8, 'first')), embedder.embed(texts(8, 'second'))]);
    return { elapsed: performance.now() - started, peak: server.peakConcurrency };
  };

  const narrow = await timed(2);
  t.equal(server.requests.length, 16);
  t.equal(narrow.peak, 2, 'concurrency 2: at most (and here exactly) 2 requests in flight');
  t.ok(
    narrow.elapsed >= 750,
    `16 requests of 100 ms, 2 at a time, take about 800 ms (${narrow.elapsed.toFixed(0)})`,
  );

  const wide = await timed(8);
  t.ok(wide.peak <= 8 && wide.peak > 2, `concurrency 8: ${wide.peak} in flight at most`);
  t.ok(
    wide.elapsed < narrow.elapsed / 2,
    `concurrency 8 is faster (${wide.elapsed.toFixed(0)} ms against ${narrow.elapsed.toFixed(0)} ms)`,
  );
});

t.test('a 429 is retried after its Retry-After, and the retry succeeds', async (t) => {
  const server = await startServer(t);
  server.failNext(1, { status: 429, retryAfterSeconds: 1 });
  const [vector] = await embedderFor(server).embed(['rate limited']);
  t.ok(maxDifference(vector!, deterministicEmbedding('rate limited', DIMENSION)) < 1e-6);
  const [refused, retried] = server.requests;
  t.equal(server.requests.length, 2);
  t.equal(refused?.status, 429);
  t.equal(retried?.status, 200);
  const gap = retried!.time - refused!.time;
  t.ok(gap >= 900, `the retry came ${gap.toFixed(0)} ms later, honouring Retry-After: 1`);
  t.ok(gap < 3_000, 'and not much later');
  t.equal(retried?.headers['x-stainless-retry-count'], '1');
});

t.test('a 500 is retried; with no retries it rejects', async (t) => {
  const server = await startServer(t);
  server.failNext(1, { status: 500 });
  const [vector] = await embedderFor(server).embed(['flaky']);
  t.equal(vector?.length, DIMENSION);
  t.same(
    server.requests.map((request) => request.status),
    [500, 200],
  );

  server.reset();
  server.failNext(1, { status: 500 });
  const error = await embedderFor(server, { maxRetries: 0 })
    .embed(['flaky'])
    .then(
      () => undefined,
      (reason: unknown) => reason,
    );
  t.ok(error instanceof InternalServerError, 'maxRetries 0: the 500 rejects');
  t.match(error, { status: 500 });
  t.equal(server.requests.length, 1, 'maxRetries 0: one request only');
});

t.test('a failed request cancels the requests still queued behind it', async (t) => {
  const server = await startServer(t);
  server.failNext(1, { status: 500 });
  await t.rejects(embedderFor(server, { maxRetries: 0, batchSize: 5, concurrency: 1 }).embed(texts(20)));
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(server.requests.length, 1, 'the three batches behind the failed one were never sent');
});

t.test('a server that never answers: the embedder gives up after its timeout', async (t) => {
  const server = await startServer(t);
  server.failNext(10, { hang: true });
  const started = performance.now();
  const error = await embedderFor(server, { timeoutMs: 300, maxRetries: 1 })
    .embed(['hello?'])
    .then(
      () => undefined,
      (reason: unknown) => reason,
    );
  t.ok(error instanceof APIConnectionTimeoutError, 'rejects with a timeout error');
  const elapsed = performance.now() - started;
  t.equal(server.requests.length, 2, 'the timed-out request was tried once more');
  t.ok(
    elapsed >= 550 && elapsed < 3_000,
    `gave up after ${elapsed.toFixed(0)} ms (2 × 300 ms and a backoff)`,
  );
});

t.test('a server answering another dimension is refused, naming the setting', async (t) => {
  const server = await startServer(t, { forceDimension: 32 });
  await t.rejects(embedderFor(server).embed(['wrong size']), {
    message: /dimension 32, but MARQUEE_EMBEDDING_DIMENSION is 64/,
  });
});

t.test('metrics: tokens as the server counted them, calls by outcome', async (t) => {
  const server = await startServer(t);
  const metrics = createAppMetrics();
  const counters = { calls: metrics.embeddingCalls, tokens: metrics.embeddingTokens };
  const many = texts(35);
  await embedderFor(server, { batchSize: 10, metrics: counters }).embed(many);
  server.failNext(1, { status: 500 });
  await t.rejects(embedderFor(server, { maxRetries: 0, metrics: counters }).embed(['fails']));

  const reported = server.requests.reduce((sum, request) => sum + (request.usage?.prompt_tokens ?? 0), 0);
  t.equal(
    reported,
    many.reduce((sum, text) => sum + estimateTestTokens(text), 0),
  );
  const tokens = (await metrics.embeddingTokens.get()).values;
  t.same(
    tokens.map(({ labels, value }) => ({ labels, value })),
    [{ labels: { provider: 'openai' }, value: reported }],
    'the token counter is the sum of the usage the server reported',
  );
  const calls = (await metrics.embeddingCalls.get()).values;
  const count = (outcome: string) => calls.find((entry) => entry.labels.outcome === outcome)?.value;
  t.equal(count('ok'), 4, 'four successful requests');
  t.equal(count('error'), 1, 'one failed request');
});

t.test('createEmbedder builds the openai embedder from the configuration', async (t) => {
  const server = await startServer(t, { apiKey: 'sk-configured' });
  const config = testConfig({
    MARQUEE_EMBEDDER: 'openai',
    OPENAI_API_KEY: 'sk-configured',
    OPENAI_BASE_URL: server.url,
    MARQUEE_EMBEDDING_MODEL: 'configured-model',
    MARQUEE_EMBEDDING_DIMENSION: '48',
    MARQUEE_EMBEDDING_BATCH_SIZE: '3',
  });
  const metrics = createAppMetrics();
  const embedder = await createEmbedder(config, metrics);
  t.same(embedder.space, { provider: 'openai', model: 'configured-model', dimension: 48 });
  const vectors = await embedder.embed(texts(7));
  t.same(
    vectors.map((vector) => vector.length),
    Array<number>(7).fill(48),
  );
  t.same(
    sentInputs(server).map((input) => input.length),
    [3, 3, 1],
    'MARQUEE_EMBEDDING_BATCH_SIZE is applied',
  );
  for (const request of server.requests) {
    t.match(request.body, { model: 'configured-model', dimensions: 48 });
    t.equal(request.headers.authorization, 'Bearer sk-configured');
  }
  t.match(
    await metrics.registry.metrics(),
    /marquee_embedding_calls_total\{provider="openai",outcome="ok"\} 3/,
  );
});

t.test('the app embeds a written item through the server, once per distinct text', async (t) => {
  const server = await startServer(t);
  const { app, inject, database, config } = await buildTestApp(t, {
    env: {
      MARQUEE_EMBEDDER: 'openai',
      OPENAI_BASE_URL: server.url,
      MARQUEE_EMBEDDING_MODEL: MODEL,
      MARQUEE_EMBEDDING_DIMENSION: String(DIMENSION),
    },
  });
  const alien = { title: 'Alien', type: 'movie', genres: ['horror', 'science fiction'] };
  const put = await inject({ method: 'PUT', url: '/v1/items/m1', ...json(alien) });
  t.equal(put.statusCode, 201);
  await app.embedding.idle();

  const text = itemEmbeddingText(
    {
      ...alien,
      tags: [],
      credits: [],
      description: null,
      language: null,
      releaseYear: null,
      maturityRating: null,
      regions: [],
    },
    config.embedding.fields,
  );
  t.same(sentInputs(server), [[text]], "one request, with the item's text");
  t.match(server.requests[0]?.body, { model: MODEL, dimensions: DIMENSION });
  const rows = await database.db
    .selectFrom('item_embeddings')
    .select(['item_id', sql<string>`embedding::text`.as('embedding')])
    .execute();
  t.equal(rows.length, 1);
  t.equal(rows[0]?.item_id, 'm1');
  const stored = JSON.parse(rows[0]?.embedding ?? '[]') as number[];
  t.equal(stored.length, DIMENSION);
  t.ok(
    maxDifference(stored, deterministicEmbedding(text, DIMENSION)) < 1e-5,
    "the stored vector is the server's vector for that text",
  );

  const again = await inject({ method: 'PUT', url: '/v1/items/m1', ...json(alien) });
  t.equal(again.statusCode, 200);
  await app.embedding.idle();
  t.equal(server.requests.length, 1, 'the same text again: no new embeddings request');
});

t.test('unusable vectors (NaN, all zeros) are refused; search then answers on the text alone', async (t) => {
  for (const unusable of ['nan', 'zero'] as const) {
    const server = await startServer(t, { unusableEmbeddings: unusable });
    await t.rejects(
      embedderFor(server, { maxRetries: 0 }).embed(['A crew plans a heist.']),
      { message: /unusable vector for input 0/ },
      `${unusable}: refused`,
    );
  }
  const hostile = await startServer(t, { unusableEmbeddings: 'nan' });
  const { app, inject } = await buildTestApp(t, {
    env: {
      MARQUEE_EMBEDDER: 'openai',
      OPENAI_BASE_URL: hostile.url,
      MARQUEE_EMBEDDING_MODEL: MODEL,
      MARQUEE_EMBEDDING_DIMENSION: String(DIMENSION),
      MARQUEE_OPENAI_MAX_RETRIES: '0',
    },
  });
  const put = await inject({ method: 'PUT', url: '/v1/items/m1', ...json({ title: 'The Great Heist' }) });
  t.equal(put.statusCode, 201, 'the item is stored (its embedding stays pending)');
  await app.embedding.idle();
  const search = await inject({ method: 'POST', url: '/v1/search', ...json({ query: 'heist' }) });
  t.equal(search.statusCode, 200, `search answers (${search.body.slice(0, 200)})`);
  t.same(
    search.json().items.map((item: { itemId: string }) => item.itemId),
    ['m1'],
    'from the text alone',
  );
});
