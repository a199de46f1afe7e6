import pg from 'pg';
import { pino } from 'pino';
import t from 'tap';
import { migrations } from '../../db/migrations/index.ts';
import { openRedisCache } from '../../src/cache/redis-cache.ts';
import { startOpenAiTestServer } from '../helpers/openai-test-server.ts';
import {
  type RunningServer,
  startServerProcess,
  startWorkerProcess,
  type WorkerProcess,
} from '../helpers/spawn-server.ts';
import {
  freshDatabaseConfig,
  redisUrl,
  servedMode,
  TEST_ADMIN_KEY,
  uniqueTestName,
} from '../helpers/test-app.ts';

// Two API replicas and two workers on one Postgres and one Redis, as real processes: what issue 7 asks a
// scaled-out deployment to get right. test/jobs/worker-crash.test.ts covers the crash of a worker in detail
// (one API in the test process); here the crash happens inside the full topology.

const ITEMS_PER_IMPORT = 1_200;
const BATCH_SIZE = 100;
const USERS = 40;
const PLAYS_PER_USER = 10;
const GENRES = ['drama', 'comedy', 'thriller', 'documentary'];
// The viewer's history: five dramas (items 0, 4, 8, ... are dramas).
const VIEWER_HISTORY = [0, 4, 8, 12, 16].map((index) => `t${index}`);
const READ_LIMIT = 10;
const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

interface ImportStatus {
  status: string;
  counts: Record<string, number>;
  errors: unknown[];
}
interface RecommendationPage {
  recommendationId: string;
  items: { itemId: string; reasons: { source: string }[] }[];
}

async function call(
  server: RunningServer,
  path: string,
  options: { method?: string; key?: string; body?: string; contentType?: string } = {},
) {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method: options.method ?? 'GET',
    headers: {
      authorization: `Bearer ${options.key ?? TEST_ADMIN_KEY}`,
      ...(options.body !== undefined && { 'content-type': options.contentType ?? 'application/json' }),
    },
    ...(options.body !== undefined && { body: options.body }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: <T>() => JSON.parse(text) as T };
}

async function importAndWait(
  via: RunningServer,
  watch: RunningServer,
  kind: 'items' | 'events',
  lines: string[],
  onProgress?: (importId: string) => Promise<void>,
): Promise<{ importId: string; status: ImportStatus }> {
  const accepted = await call(via, `/v1/imports?kind=${kind}&format=ndjson`, {
    method: 'POST',
    body: lines.join('\n'),
    contentType: 'application/x-ndjson',
  });
  if (accepted.status !== 202) throw new Error(`import not accepted: ${accepted.status} ${accepted.text}`);
  const { importId } = accepted.json<{ importId: string }>();
  await onProgress?.(importId);
  const started = Date.now();
  let status: ImportStatus = { status: 'receiving', counts: {}, errors: [] };
  while (status.status !== 'completed' && status.status !== 'failed') {
    if (Date.now() - started > 40_000)
      throw new Error(`import ${importId} still ${status.status} after 40 s`);
    await sleep(100);
    // The status is read from the other replica: it lives in the database, not in the replica that took it.
    status = (await call(watch, `/v1/imports/${importId}`)).json<ImportStatus>();
  }
  return { importId, status };
}

const itemLines = (prefix: string) =>
  Array.from({ length: ITEMS_PER_IMPORT }, (_, index) =>
    JSON.stringify({
      id: `${prefix}${index}`,
      type: 'movie',
      title: `${prefix.toUpperCase()} title ${index}`,
      genres: [GENRES[index % GENRES.length]],
      description: `A ${GENRES[index % GENRES.length]} about case number ${index}.`,
    }),
  );

// Users play items of one genre each (user u plays the genre u % 4), so the collaborative model has
// neighbours to learn; the viewer plays five dramas.
function eventLines(): string[] {
  const base = Date.parse('2026-11-01T00:00:00Z');
  const lines: string[] = [];
  for (let user = 0; user < USERS; user++)
    for (let play = 0; play < PLAYS_PER_USER; play++) {
      const item = ((user + play * 3) % 40) * GENRES.length + (user % GENRES.length);
      lines.push(
        JSON.stringify({
          id: `ev-${user}-${play}`,
          userId: `u${user}`,
          itemId: `t${item}`,
          type: 'play',
          timestamp: new Date(base + (user * PLAYS_PER_USER + play) * 60_000).toISOString(),
        }),
      );
    }
  VIEWER_HISTORY.forEach((itemId, index) =>
    lines.push(
      JSON.stringify({
        id: `ev-viewer-${index}`,
        userId: 'viewer',
        itemId,
        type: 'play',
        timestamp: new Date(base + index * 60_000).toISOString(),
      }),
    ),
  );
  return lines;
}

t.test(
  'two API replicas and two workers on one Postgres and Redis',
  { skip: servedMode && redisUrl ? false : 'needs DATABASE_URL and REDIS_URL (the served-mode run)' },
  async (t) => {
    const openai = await startOpenAiTestServer({ latencyMs: 200 });
    t.teardown(() => openai.close());
    const database = await freshDatabaseConfig(t);
    const redis = redisUrl;
    if (database.kind !== 'postgres' || !redis) throw new Error('served mode expected');
    const sqlClient = new pg.Client({ connectionString: database.url });
    const query = async <Row>(text: string, values: unknown[] = []) =>
      (await sqlClient.query(text, values)).rows as Row[];

    const keyPrefix = uniqueTestName('redis');
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: redis,
      MARQUEE_REDIS_PREFIX: keyPrefix,
      MARQUEE_DATABASE_POOL_SIZE: '4',
      MARQUEE_ADMIN_KEY: TEST_ADMIN_KEY,
      // Embeddings from the local OpenAI-compatible server: 200 ms a request keeps each batch busy long
      // enough for both workers to take some, and for a kill to land inside one.
      MARQUEE_EMBEDDER: 'openai',
      OPENAI_BASE_URL: openai.url,
      MARQUEE_EMBEDDING_DIMENSION: '64',
      MARQUEE_LLM: 'off',
      MARQUEE_IMPORT_BATCH_SIZE: String(BATCH_SIZE),
      MARQUEE_IMPORT_MAX_QUEUED_BATCHES: '100',
      // Batches only on the workers, one at a time each.
      MARQUEE_API_JOB_CONCURRENCY: '0',
      MARQUEE_WORKER_CONCURRENCY: '1',
      MARQUEE_JOB_LOCK_MS: '1500',
      // Trainings only when asked, so that none invalidates the cached pages behind the test's back.
      MARQUEE_MODEL_REFRESH_MINUTES: '0',
      MARQUEE_RATE_LIMIT_READ: String(READ_LIMIT),
      LOG_LEVEL: 'info',
    };

    // (a) Four processes start at the same moment on an empty database: each one migrates at start-up.
    const workers: WorkerProcess[] = [startWorkerProcess(env), startWorkerProcess(env)];
    const apiStarts = await Promise.allSettled([startServerProcess(env), startServerProcess(env)]);
    const apis = apiStarts.flatMap((start) => (start.status === 'fulfilled' ? [start.value] : []));
    t.teardown(async () => {
      await Promise.all([...apis, ...workers].map((child) => child.stop()));
      const keys = await openRedisCache({ url: redis, keyPrefix, logger: pino({ level: 'silent' }) });
      await keys.deleteByPrefix('');
      await keys.close();
      await sqlClient.end();
    });
    t.teardown(() => {
      if (t.passing()) return;
      for (const [name, child] of [
        ['api A', apis[0]],
        ['api B', apis[1]],
        ['worker 1', workers[0]],
        ['worker 2', workers[1]],
      ] as const)
        if (child) t.comment(`${name} output (last 3,000 characters):\n${child.output().slice(-3_000)}`);
    });
    for (const start of apiStarts) if (start.status === 'rejected') throw start.reason;
    await Promise.all(workers.map((worker) => worker.ready()));
    const [a, b] = apis;
    if (!a || !b) throw new Error('an API replica did not start');
    await sqlClient.connect();

    await t.test('(a) replicas starting together migrate once, in turn', async (t) => {
      const names = Object.keys(migrations);
      const applied = await query<{ name: string }>('SELECT name FROM kysely_migration ORDER BY name');
      t.same(
        applied.map((row) => row.name),
        names,
        'the migration table holds every migration once',
      );
      const ranBy = [...apis, ...workers].map((child) =>
        child
          .output()
          .split('\n')
          .filter((line) => line.includes('"database migrated"'))
          .flatMap((line) => (JSON.parse(line) as { migrations: string[] }).migrations),
      );
      t.same(ranBy.flat().sort(), names, 'across the four processes, each migration ran exactly once');
      t.comment(`migrations run by A, B, worker 1, worker 2: ${ranBy.map((list) => list.length).join(', ')}`);
      for (const server of [a, b]) {
        const ready = await call(server, '/readyz');
        t.equal(ready.status, 200);
        t.match(ready.json(), { status: 'ok' }, 'both replicas are ready on the database and Redis');
      }
    });

    await t.test('(b) an import split across both workers ends with exact counts', async (t) => {
      const items = await importAndWait(a, b, 'items', itemLines('t'));
      t.equal(items.status.status, 'completed', 'the items import completed', { importStatus: items.status });
      t.same(items.status.counts, {
        received: ITEMS_PER_IMPORT,
        inserted: ITEMS_PER_IMPORT,
        updated: 0,
        unchanged: 0,
        deleted: 0,
        failed: 0,
        embedded: ITEMS_PER_IMPORT,
      });
      const [stored] = await query<{ items: string; distinct_items: string; embeddings: string }>(
        `SELECT (SELECT count(*) FROM items) AS items, (SELECT count(DISTINCT id) FROM items) AS distinct_items,
                (SELECT count(*) FROM item_embeddings) AS embeddings`,
      );
      t.same(stored, {
        items: String(ITEMS_PER_IMPORT),
        distinct_items: String(ITEMS_PER_IMPORT),
        embeddings: String(ITEMS_PER_IMPORT),
      });
      const batches = ITEMS_PER_IMPORT / BATCH_SIZE;
      const [batchRows] = await query<{ total: string; finished: string }>(
        'SELECT count(*) AS total, count(finished_at) AS finished FROM import_batches WHERE import_id = $1 AND batch_no >= 0',
        [items.importId],
      );
      t.same(batchRows, { total: String(batches), finished: String(batches) });
      const done = workers.map((worker) => worker.batchesDone(items.importId));
      t.ok(
        done.every((count) => count >= 1),
        `each worker ran some batches (${done.join(' + ')})`,
      );
      t.equal(done[0]! + done[1]!, batches, 'the workers logged every batch done exactly once between them');

      const events = eventLines();
      const history = await importAndWait(b, a, 'events', events);
      t.equal(history.status.status, 'completed', 'the events import completed', {
        importStatus: history.status,
      });
      t.match(history.status.counts, { received: events.length, inserted: events.length, failed: 0 });
      const [eventRows] = await query<{ events: string; distinct_events: string }>(
        'SELECT count(*) AS events, count(DISTINCT client_id) AS distinct_events FROM events',
      );
      t.same(eventRows, { events: String(events.length), distinct_events: String(events.length) });
    });

    await t.test('(c) an event posted to replica A changes the page replica B serves next', async (t) => {
      const trained = await call(a, '/v1/admin/models/train', { method: 'POST', body: '{}' });
      t.equal(trained.status, 200, 'trained on replica A', { body: trained.text });
      t.match(trained.json(), { skipped: false, events: eventLines().length });

      const path = '/v1/users/viewer/recommendations?limit=10';
      let cached: Awaited<ReturnType<typeof call>> | undefined;
      let first: RecommendationPage | undefined;
      for (let attempt = 0; attempt < 10 && !cached; attempt++) {
        const page = await call(b, path);
        t.equal(page.status, 200, 'B answers the page', { body: page.text });
        if (page.headers.get('x-cache') === 'hit') cached = page;
        else first ??= page.json<RecommendationPage>();
      }
      if (!cached || !first) throw new Error('replica B never served the page from its cache');
      const before = cached.json<RecommendationPage>();
      t.same(
        before.items.map((item) => item.itemId),
        first.items.map((item) => item.itemId),
        'B serves the cached page on the next request (x-cache: hit)',
      );
      t.equal(before.items.length, 10);
      t.notOk(
        before.items.some((item) => VIEWER_HISTORY.includes(item.itemId)),
        'nothing the viewer played is recommended',
      );

      const consumed = before.items[0]!.itemId;
      const posted = await call(a, '/v1/events', {
        method: 'POST',
        body: JSON.stringify({ events: [{ userId: 'viewer', itemId: consumed, type: 'play' }] }),
      });
      t.equal(posted.status, 200, 'A takes the event', { body: posted.text });
      t.match(posted.json(), { accepted: 1, duplicates: 0, rejected: [] });

      const after = await call(b, path);
      t.equal(after.status, 200, 'B answers the page again', { body: after.text });
      t.equal(after.headers.get('x-cache'), 'miss', "A's event made B's cached page stale");
      const afterIds = after.json<RecommendationPage>().items.map((item) => item.itemId);
      t.equal(afterIds.length, 10);
      t.notOk(afterIds.includes(consumed), `the item just played (${consumed}) is gone from B's page`);
    });

    await t.test('(c2) events posted to replica A move the trending list both replicas serve', async (t) => {
      const trending = async (server: RunningServer) =>
        (await call(server, '/v1/trending?limit=5'))
          .json<RecommendationPage>()
          .items.map((item) => item.itemId);
      const before = await trending(b);
      const rising = 't1199';
      t.notOk(before.includes(rising), `${rising} is not trending yet`);
      const posted = await call(a, '/v1/events', {
        method: 'POST',
        body: JSON.stringify({
          events: Array.from({ length: 60 }, (_, n) => ({
            userId: `fan-${n}`,
            itemId: rising,
            type: 'play',
          })),
        }),
      });
      t.match(posted.json(), { accepted: 60 }, { body: posted.text });
      const started = Date.now();
      let fromB: string[] = [];
      while (Date.now() - started < 2_000) {
        fromB = await trending(b);
        if (fromB[0] === rising) break;
        await sleep(50);
      }
      t.equal(fromB[0], rising, `B puts it first within ${Date.now() - started} ms`);
      t.same(await trending(a), fromB, 'A serves the same list');
    });

    await t.test('(d) rate limits are counted once across replicas', async (t) => {
      const created = await call(a, '/v1/admin/keys', {
        method: 'POST',
        body: JSON.stringify({ name: 'multi-replica read', scopes: ['read'] }),
      });
      t.equal(created.status, 201, 'a read key is created', { body: created.text });
      const { key } = created.json<{ key: string }>();

      // Three times the limit, alternating between the replicas, one after the other.
      const answers: { replica: string; status: number; remaining: string | null; body: string }[] = [];
      for (let index = 0; index < 3 * READ_LIMIT; index++) {
        const [replica, server] = index % 2 === 0 ? ['A', a] : ['B', b];
        const answer = await call(server, '/v1/items?limit=1', { key });
        answers.push({
          replica,
          status: answer.status,
          remaining: answer.headers.get('ratelimit-remaining'),
          body: answer.text,
        });
      }
      const ok = answers.filter((answer) => answer.status === 200);
      t.equal(ok.length, READ_LIMIT, `${READ_LIMIT} answers in all, not ${READ_LIMIT} per replica`);
      t.same(
        answers.map((answer) => answer.status),
        [...Array<number>(READ_LIMIT).fill(200), ...Array<number>(2 * READ_LIMIT).fill(429)],
        'the first requests pass, every later one is refused on both replicas',
      );
      t.same(
        ok.map((answer) => answer.remaining),
        Array.from({ length: READ_LIMIT }, (_, index) => String(READ_LIMIT - 1 - index)),
        'RateLimit-Remaining counts down across A and B alike',
      );
      t.same(new Set(ok.map((answer) => answer.replica)), new Set(['A', 'B']));
      for (const answer of ok)
        t.equal((JSON.parse(answer.body) as { items: unknown[] }).items.length, 1, 'a page of one item');
      const refused = answers.filter((answer) => answer.status === 429);
      t.same(new Set(refused.map((answer) => answer.replica)), new Set(['A', 'B']));
      t.match(JSON.parse(refused[0]!.body), {
        type: 'urn:marquee:problem:rate-limited',
        status: 429,
      });
    });

    await t.test('(e) a worker killed with SIGKILL mid-import loses nothing', async (t) => {
      const [doomed, survivor] = workers as [WorkerProcess, WorkerProcess];
      let doneBeforeKill = 0;
      const second = await importAndWait(b, a, 'items', itemLines('n'), async (importId) => {
        const started = Date.now();
        while (doomed.batchesDone(importId) < 1) {
          if (Date.now() - started > 20_000) throw new Error('the doomed worker took no batch');
          await sleep(20);
        }
        // Inside its next batch, waiting on the embedding server.
        await sleep(100);
        await doomed.stop('SIGKILL');
        doneBeforeKill = doomed.batchesDone(importId);
      });
      t.equal(second.status.status, 'completed', 'the import completed', { importStatus: second.status });
      t.same(second.status.counts, {
        received: ITEMS_PER_IMPORT,
        inserted: ITEMS_PER_IMPORT,
        updated: 0,
        unchanged: 0,
        deleted: 0,
        failed: 0,
        embedded: ITEMS_PER_IMPORT,
      });
      const [stored] = await query<{ items: string; distinct_items: string; embeddings: string }>(
        `SELECT (SELECT count(*) FROM items) AS items, (SELECT count(DISTINCT id) FROM items) AS distinct_items,
                (SELECT count(*) FROM item_embeddings) AS embeddings`,
      );
      t.same(stored, {
        items: String(2 * ITEMS_PER_IMPORT),
        distinct_items: String(2 * ITEMS_PER_IMPORT),
        embeddings: String(2 * ITEMS_PER_IMPORT),
      });
      const batches = ITEMS_PER_IMPORT / BATCH_SIZE;
      const [batchRows] = await query<{ total: string; finished: string }>(
        'SELECT count(*) AS total, count(finished_at) AS finished FROM import_batches WHERE import_id = $1 AND batch_no >= 0',
        [second.importId],
      );
      t.same(batchRows, { total: String(batches), finished: String(batches) });
      t.ok(
        survivor.batchesDone(second.importId) >= batches - doneBeforeKill,
        `the killed worker finished ${doneBeforeKill} batches, the survivor the other ${survivor.batchesDone(second.importId)}`,
      );
      t.match(survivor.output(), /lost its worker/, "the killed worker's batch went back to the queue");
    });

    // Both replicas and the surviving worker shut down cleanly on SIGTERM.
    const codes = await Promise.all([a.stop(), b.stop(), workers[1]!.stop()]);
    t.same(codes, [0, 0, 0], 'A, B and the surviving worker exit with 0 on SIGTERM');
  },
);
