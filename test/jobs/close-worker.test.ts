import t from 'tap';
import { closeWorkerWithin } from '../../src/jobs/close-worker.ts';

function fakeWorker(closes: boolean) {
  const calls: string[] = [];
  return {
    calls,
    close: () => {
      calls.push('close');
      return closes ? Promise.resolve() : new Promise<void>(() => {});
    },
    disconnect: () => {
      calls.push('disconnect');
      return Promise.resolve();
    },
  };
}

t.test('a worker that closes is just closed', async (t) => {
  const warnings: string[] = [];
  const worker = fakeWorker(true);
  await closeWorkerWithin(
    worker,
    { warn: (_: object, message: string) => void warnings.push(message) },
    'w',
    1_000,
  );
  t.same(worker.calls, ['close']);
  t.same(warnings, []);
});

t.test('a worker whose close never ends is disconnected after the time-out, with a warning', async (t) => {
  const warnings: string[] = [];
  const worker = fakeWorker(false);
  const started = Date.now();
  await closeWorkerWithin(
    worker,
    { warn: (_: object, message: string) => void warnings.push(message) },
    'w',
    200,
  );
  const waited = Date.now() - started;
  t.ok(waited >= 190 && waited < 2_000, `gave up after ${waited} ms`);
  t.same(worker.calls, ['close', 'disconnect']);
  t.match(warnings, [/did not close within 200 ms/]);
});
