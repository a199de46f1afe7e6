import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { freshDatabaseConfig, redisUrl, uniqueTestName } from './helpers/test-app.ts';
import { CLI, startServerProcess } from './helpers/spawn-server.ts';

// About 25 processes, each opening an embedded database (several seconds of CPU each on 2 cores): the
// whole file took 110 to 125 s embedded, at the edge of the suite's 120 s per file.
t.setTimeout(300_000);

const run = promisify(execFile);
const cleanEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
const KEY_PATTERN = /mq_[0-9a-f]{8}_[A-Za-z0-9_-]{43}/;

t.test('--help works on the program and on every command', async (t) => {
  for (const args of [['--help'], ['serve', '--help'], ['migrate', '--help']]) {
    const { stdout } = await run(process.execPath, [CLI, ...args], { env: cleanEnv });
    t.match(stdout, /^Usage: marquee/m, `marquee ${args.join(' ')}`);
  }
  const { stdout } = await run(process.execPath, [CLI, '--help'], { env: cleanEnv });
  t.match(stdout, /serve/);
  t.match(stdout, /migrate/);
});

t.test('a bad configuration stops start-up with a message naming the variable', async (t) => {
  const failure = await run(process.execPath, [CLI, 'serve'], {
    env: { ...cleanEnv, PORT: 'not-a-port', REDIS_URL: 'http://wrong' },
  }).catch((error: { code: number; stderr: string }) => error);
  t.equal((failure as { code: number }).code, 1);
  t.match((failure as { stderr: string }).stderr, /PORT: must be a number/);
  t.match((failure as { stderr: string }).stderr, /REDIS_URL: must start with redis:\/\/ or rediss:\/\//);
  t.notMatch((failure as { stderr: string }).stderr, /at .*\.ts:\d+/, 'no stack trace for an operator error');
});

t.test('serve: data survives a graceful restart; logs are JSON lines with request ids', async (t) => {
  const database = await freshDatabaseConfig(t);
  const dataDir = await mkdtemp(join(tmpdir(), 'marquee-cli-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> =
    database.kind === 'postgres'
      ? {
          DATABASE_URL: database.url,
          ...(redisUrl && { REDIS_URL: redisUrl, MARQUEE_REDIS_PREFIX: uniqueTestName('redis') }),
        }
      : { MARQUEE_DATA_DIR: dataDir };

  const first = await startServerProcess(env);
  t.teardown(() => first.stop('SIGKILL'));
  t.comment(`first start ready after ${Math.round(first.readyAfterMs)} ms`);
  const bootstrapKey = KEY_PATTERN.exec(first.output())?.[0];
  t.ok(bootstrapKey, 'a first start without any key prints an admin key');
  const auth = { authorization: `Bearer ${bootstrapKey}` };
  t.equal((await fetch(`${first.baseUrl}/v1/items`)).status, 401, 'the API wants credentials');
  const item = {
    type: 'movie',
    title: 'Alien',
    genres: ['horror', 'science fiction'],
    releaseDate: '1979-05-25',
  };
  const put = await fetch(`${first.baseUrl}/v1/items/alien`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify(item),
  });
  t.equal(put.status, 201);
  const events = await fetch(`${first.baseUrl}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({ events: [{ id: 'e1', userId: 'ripley', itemId: 'alien', type: 'complete' }] }),
  });
  t.same(await events.json(), { accepted: 1, duplicates: 0, rejected: [] });

  t.equal(await first.stop('SIGTERM'), 0, 'SIGTERM shuts down cleanly (exit code 0)');
  const lines = first
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; requestId?: string; req?: unknown });
  t.ok(lines.some((line) => line.msg === 'shutting down: finishing in-flight requests'));
  const requestLines = lines.filter(
    (line) => line.msg === 'incoming request' || line.msg === 'request completed',
  );
  t.ok(requestLines.length >= 4, 'request lines were logged');
  t.ok(
    requestLines.every((line) => typeof line.requestId === 'string'),
    'every request line carries a request id',
  );

  const second = await startServerProcess(env);
  t.teardown(() => second.stop('SIGKILL'));
  t.notMatch(second.output(), KEY_PATTERN, 'no second bootstrap key');
  const fetched = (await (
    await fetch(`${second.baseUrl}/v1/items/alien`, { headers: auth })
  ).json()) as Record<string, unknown>;
  t.match(fetched, item, 'the item is still there after the restart');
  const history = (await (
    await fetch(`${second.baseUrl}/v1/users/ripley/events`, { headers: auth })
  ).json()) as {
    events: { id: string }[];
  };
  t.same(
    history.events.map((event) => event.id),
    ['e1'],
  );
  t.equal(await second.stop('SIGINT'), 0, 'SIGINT shuts down cleanly too');
});

t.test('migrate brings a fresh database up to date and exits 0', async (t) => {
  const database = await freshDatabaseConfig(t);
  const dataDir = await mkdtemp(join(tmpdir(), 'marquee-migrate-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const env = database.kind === 'postgres' ? { DATABASE_URL: database.url } : { MARQUEE_DATA_DIR: dataDir };
  const { stdout } = await run(process.execPath, [CLI, 'migrate'], { env: { ...cleanEnv, ...env } });
  t.match(
    stdout,
    /"migrations":\["0001_initial","0002_api_keys","0003_imports","0004_item_embeddings_next","0005_recommendations","0006_boosted_items_index","0007_chat_sessions","0008_item_title_index","0009_item_document_cost","0010_user_token_revocations","0011_import_progress","0012_live_item_stats","0013_model_snapshot_change_indexes","0014_item_search_documents","0015_ranker_models","0016_recommendation_feedback","0017_search_document_changes"\]/,
  );
  t.match(stdout, /database schema is up to date/);
  const again = await run(process.execPath, [CLI, 'migrate'], { env: { ...cleanEnv, ...env } });
  t.notMatch(again.stdout, /0001_initial/, 'nothing left to apply');

  const mismatch = await run(process.execPath, [CLI, 'migrate'], {
    env: { ...cleanEnv, ...env, MARQUEE_EMBEDDING_DIMENSION: '384' },
  }).catch((error: { code: number; stderr: string }) => error);
  t.equal((mismatch as { code: number }).code, 1, 'a database made for another embedder is refused');
  t.match(
    (mismatch as { stderr: string }).stderr,
    /built with the local embedder, model "marquee-local-v1", dimension 256/,
  );
});

t.test('keys create, list and revoke from the command line', async (t) => {
  const database = await freshDatabaseConfig(t);
  const dataDir = await mkdtemp(join(tmpdir(), 'marquee-keys-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const env = {
    ...cleanEnv,
    ...(database.kind === 'postgres' ? { DATABASE_URL: database.url } : { MARQUEE_DATA_DIR: dataDir }),
  };
  const created = await run(
    process.execPath,
    [CLI, 'keys', 'create', '--name', 'nightly import', '--scopes', 'ingest', 'read'],
    { env },
  );
  const key = created.stdout.trim();
  t.match(key, new RegExp(`^${KEY_PATTERN.source}$`), 'standard output is the key alone, for scripts');
  t.match(created.stderr, /created mq_[0-9a-f]{8} "nightly import" with scopes ingest, read/);
  const id = key.slice(0, 11);

  const listed = await run(process.execPath, [CLI, 'keys', 'list'], { env });
  t.match(listed.stdout, new RegExp(`^${id}\\tnightly import\\tingest,read\\t.*\\tactive$`, 'm'));
  t.notMatch(listed.stdout, key.slice(12), 'no secret listed');

  await run(process.execPath, [CLI, 'keys', 'revoke', id], { env });
  t.match(
    (await run(process.execPath, [CLI, 'keys', 'list'], { env })).stdout,
    new RegExp(`^${id}\\t.*\\trevoked `, 'm'),
  );

  const badScope = await run(process.execPath, [CLI, 'keys', 'create', '--name', 'x', '--scope', 'root'], {
    env,
  }).catch((error: { code: number; stderr: string }) => error);
  t.equal((badScope as { code: number }).code, 1);
  t.match(
    (badScope as { stderr: string }).stderr,
    /'root' is invalid\. Allowed choices are admin, ingest, client, read/,
  );
  const aliased = await run(process.execPath, [CLI, 'keys', 'create', '--name', 'old', '--scope', 'read'], {
    env,
  });
  t.match(aliased.stderr, /with scopes read/, '--scope is accepted as an alias of --scopes');
  const unknown = await run(process.execPath, [CLI, 'keys', 'revoke', 'mq_00000000'], { env }).catch(
    (error: { code: number; stderr: string }) => error,
  );
  t.match((unknown as { stderr: string }).stderr, /No API key "mq_00000000"/);
});

t.test('train: imports, then trains the models from the command line', async (t) => {
  const database = await freshDatabaseConfig(t);
  const dataDir = await mkdtemp(join(tmpdir(), 'marquee-train-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const env = {
    ...cleanEnv,
    // Only when asked, so that the import command does not start a training of its own.
    MARQUEE_MODEL_REFRESH_MINUTES: '0',
    ...(database.kind === 'postgres' ? { DATABASE_URL: database.url } : { MARQUEE_DATA_DIR: dataDir }),
  };
  const ndjson = (records: unknown[]) => records.map((record) => JSON.stringify(record)).join('\n');
  await writeFile(join(dataDir, 'items.ndjson'), ndjson(['a', 'b'].map((id) => ({ id, title: id }))));
  await writeFile(
    join(dataDir, 'events.ndjson'),
    ndjson(
      ['u1', 'u2', 'u3'].flatMap((userId) => [
        { userId, itemId: 'a', type: 'complete' },
        { userId, itemId: 'b', type: 'like' },
      ]),
    ),
  );
  await run(process.execPath, [CLI, 'import', 'items', join(dataDir, 'items.ndjson')], { env });
  await run(process.execPath, [CLI, 'import', 'events', join(dataDir, 'events.ndjson')], { env });

  const { stdout, stderr } = await run(process.execPath, [CLI, 'train'], { env });
  t.match(JSON.parse(stdout), {
    skipped: false,
    model: 'item-knn',
    events: 6,
    users: 3,
    items: 2,
    neighbourRows: 2,
  });
  t.match(stderr, /trained item-knn on 6 events \(3 users, 2 items\)/);
});

t.test('import: bad options and bad files end at once, with one clear line and no stack', async (t) => {
  const database = await freshDatabaseConfig(t);
  const dataDir = await mkdtemp(join(tmpdir(), 'marquee-import-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const env = {
    ...cleanEnv,
    ...(database.kind === 'postgres' ? { DATABASE_URL: database.url } : { MARQUEE_DATA_DIR: dataDir }),
  };
  await writeFile(join(dataDir, 'events.ndjson'), '{"userId": "u1", "itemId": "a", "type": "play"}\n');
  await writeFile(join(dataDir, 'broken.json'), '[{"id": "a", "title": "A"}, {"id": ');
  const failing = (args: string[]) =>
    run(process.execPath, [CLI, 'import', ...args], { env, timeout: 60_000 }).then(
      () => ({ code: 0, stderr: '', killed: false }),
      (error: { code: number; stderr: string; killed: boolean }) => error,
    );

  const sync = await failing(['events', join(dataDir, 'events.ndjson'), '--mode', 'sync']);
  t.equal(sync.code, 1, 'events with --mode sync: exit 1');
  t.notOk(sync.killed, 'it did not hang');
  t.match(sync.stderr, /--mode: sync is for items and users/);
  t.notMatch(sync.stderr, /at .*\.ts:\d+/, 'no stack trace');

  const choice = await failing(['items', join(dataDir, 'events.ndjson'), '--mode', 'merge']);
  t.match(choice.stderr, /argument 'merge' is invalid\. Allowed choices are upsert, replace, sync/);
  const kind = await failing(['things', join(dataDir, 'events.ndjson')]);
  t.match(kind.stderr, /'things' is invalid for argument 'kind'\. Allowed choices are items, users, events/);

  const started = Date.now();
  const broken = await failing(['items', join(dataDir, 'broken.json')]);
  t.equal(broken.code, 1, 'a truncated JSON array: the import fails, exit 1');
  t.notOk(broken.killed, 'and the process ends');
  t.match(broken.stderr, /import failed/);
  t.notMatch(broken.stderr, /at .*\.ts:\d+/, 'no stack trace');
  t.ok(Date.now() - started < 60_000, `ended in ${Date.now() - started} ms`);
});
