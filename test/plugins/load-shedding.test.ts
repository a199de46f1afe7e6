import t from 'tap';
import { buildTestApp } from '../helpers/test-app.ts';

/** Until `condition` holds, polling every few milliseconds (at most 5 s). */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

t.test(
  'overload is not an outage: past the database queue a request is shed with 503 busy and Retry-After, ' +
    '/readyz says busy and stays 200, /metrics counts it, and the queued requests are served once it clears',
  async (t) => {
    const { inject, database } = await buildTestApp(t, { env: { MARQUEE_MAX_DATABASE_QUEUE: '2' } });
    const { load } = database;
    // Hold every connection (one embedded, the test pool's five served) in open transactions.
    const connections = database.mode === 'postgres' ? 5 : 1;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    t.teardown(() => release());
    let holding = 0;
    const holders = Array.from({ length: connections }, () =>
      database.db.transaction().execute(async () => {
        holding++;
        await released;
      }),
    );
    await until(() => holding === connections, 'the holders have every connection');
    t.equal(load.saturated, true);

    // Requests queue behind them (beside the process's own background queries) until the queue is full.
    const queued = [];
    let shed;
    while (!shed && queued.length < 10) {
      const waitingBefore = load.waiting;
      const request = inject({ method: 'GET', url: `/v1/items/queued-${queued.length}` });
      const answered = await Promise.race([
        request,
        until(() => load.waiting > waitingBefore, 'the request waits').then(() => undefined),
      ]);
      if (answered) shed = answered;
      else queued.push(request);
    }
    t.ok(shed, 'a request was shed');
    t.ok(queued.length >= 1 && queued.length <= 2, 'once two callers waited');
    t.equal(shed?.statusCode, 503);
    t.equal(shed?.headers['retry-after'], '1');
    t.match(shed?.headers['content-type'], /problem\+json/);
    t.match(shed?.json(), {
      type: 'urn:marquee:problem:busy',
      title: 'The service is busy',
      detail: /too many requests are waiting for the database/,
    });

    const ready = await inject({ method: 'GET', url: '/readyz' });
    t.equal(ready.statusCode, 200, 'a busy database keeps the process ready');
    t.match(ready.json(), { status: 'busy', checks: { database: { status: 'busy' } } });
    t.ok(ready.json().checks.database.waiting > queued.length, 'the requests and the check still wait');
    t.equal(ready.headers['retry-after'], undefined);

    const metrics = await inject({ method: 'GET', url: '/metrics' });
    t.equal(metrics.statusCode, 200, '/metrics is never shed');
    t.match(metrics.body, /marquee_busy_responses_total\{reason="database-queue"\} 1\n/);
    t.match(metrics.body, /marquee_db_waiting_requests [3-9]\n/);

    if (database.mode === 'postgres') {
      // pg's pool gives the queued requests up after its 3 s connection time-out: busy, not unreachable.
      const answers = await Promise.all(queued);
      t.same(
        answers.map((answer) => [answer.statusCode, answer.json<{ type: string }>().type]),
        queued.map(() => [503, 'urn:marquee:problem:busy']),
      );
      t.match(
        (await inject({ method: 'GET', url: '/metrics' })).body,
        `marquee_busy_responses_total{reason="database-queue"} ${1 + queued.length}\n`,
      );
      release();
      await Promise.all(holders);
      await until(() => load.waiting < 2, 'the queue drains');
      t.equal((await inject({ method: 'GET', url: '/v1/items/later' })).statusCode, 404, 'served again');
    } else {
      release();
      const answers = await Promise.all(queued);
      t.same(
        answers.map((answer) => answer.statusCode),
        queued.map(() => 404),
        'the queued requests are served once the session is free',
      );
    }
    await Promise.all(holders);
    const after = await inject({ method: 'GET', url: '/readyz' });
    t.match(after.json(), { status: 'ok', checks: { database: { status: 'ok', waiting: 0 } } });
  },
);
