/**
 * The abusive client of bench/rate-limits.bench.ts, run on its own thread so that its request loop does not
 * share the server's event loop. Either `concurrency` requests at a time, flat out, or an open loop at
 * `ratePerSecond`. Posts back the count of answers per status.
 */
import { parentPort, workerData } from 'node:worker_threads';

const { base, key, until, concurrency, ratePerSecond } = workerData as {
  base: string;
  key: string;
  until: number;
  concurrency: number;
  ratePerSecond: number | undefined;
};
const statuses = new Map<number, number>();
const send = async () => {
  const response = await fetch(`${base}/v1/items?limit=20`, {
    headers: { authorization: `Bearer ${key}` },
  });
  await response.arrayBuffer();
  statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
};
if (ratePerSecond) {
  // Open loop: one request every 1/rate seconds, whether or not the previous ones were answered.
  const pending: Promise<void>[] = [];
  const started = Date.now();
  for (let sent = 0; Date.now() < until; sent++) {
    pending.push(send());
    const next = started + ((sent + 1) * 1000) / ratePerSecond;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
  }
  await Promise.all(pending);
} else
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) await send();
    }),
  );
parentPort?.postMessage([...statuses.entries()]);
