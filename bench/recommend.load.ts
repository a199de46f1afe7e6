/**
 * The HTTP load generator of bench/recommend.bench.ts, run as its own process so that its CPU time can be
 * measured apart from the server's: `concurrency` connections (keep-alive), each sending its next request as
 * soon as the previous answer is read, for `durationMs` after `warmupMs` of unmeasured requests. Paths are
 * taken in turn (`pick: 'cycle'`) or at random. Prints one JSON line: requests, statuses, x-cache counts,
 * latency percentiles (ms), and its own CPU seconds.
 *
 * Usage: node bench/recommend.load.ts '<json options>' (paths come on standard input, one a line).
 */
import http from 'node:http';
import { text } from 'node:stream/consumers';

const options = JSON.parse(process.argv[2] ?? '{}') as {
  base: string;
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  pick: 'cycle' | 'random';
  headers?: Record<string, string>;
};
const paths = (await text(process.stdin)).split('\n').filter(Boolean);
if (paths.length === 0) throw new Error('no paths on standard input');

const base = new URL(options.base);
const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });

function get(path: string): Promise<{ status: number; cache: string | undefined }> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      { host: base.hostname, port: base.port, path, agent, headers: options.headers },
      (response) => {
        response.on('data', () => {});
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            cache: response.headers['x-cache'] as string | undefined,
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
  });
}

let turn = 0;
const nextPath = () =>
  options.pick === 'cycle' ? paths[turn++ % paths.length]! : paths[Math.floor(Math.random() * paths.length)]!;

const latencies: number[] = [];
const statuses: Record<string, number> = {};
const cache: Record<string, number> = {};
let errors = 0;
const warmupEnd = performance.now() + options.warmupMs;
const end = warmupEnd + options.durationMs;
let measuredFrom = 0;
let cpuFrom = process.cpuUsage();

async function client() {
  for (;;) {
    const started = performance.now();
    if (started >= end) return;
    const measured = started >= warmupEnd;
    try {
      const answer = await get(nextPath());
      if (!measured) continue;
      latencies.push(performance.now() - started);
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      const label = answer.cache ?? 'none';
      cache[label] = (cache[label] ?? 0) + 1;
    } catch {
      if (measured) errors++;
    }
  }
}

setTimeout(
  () => {
    measuredFrom = performance.now();
    cpuFrom = process.cpuUsage();
  },
  Math.max(0, warmupEnd - performance.now()),
);
await Promise.all(Array.from({ length: options.concurrency }, client));
const seconds = (performance.now() - (measuredFrom || warmupEnd)) / 1000;
const cpu = process.cpuUsage(cpuFrom);
agent.destroy();

latencies.sort((a, b) => a - b);
const percentile = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
process.stdout.write(
  `${JSON.stringify({
    requests: latencies.length,
    errors,
    seconds,
    perSecond: latencies.length / seconds,
    p50: percentile(0.5),
    p90: percentile(0.9),
    p99: percentile(0.99),
    max: latencies.at(-1) ?? 0,
    statuses,
    cache,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  })}\n`,
);
