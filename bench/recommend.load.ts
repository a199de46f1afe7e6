/**
 * The HTTP load generator of the benchmarks (bench/load-client.ts starts it), run as its own process so that
 * its CPU time can be measured apart from the servers': `concurrency` connections (keep-alive), each sending
 * its next request as soon as the previous answer is read, for `durationMs` after `warmupMs` of unmeasured
 * requests. Requests are taken in turn (`pick: 'cycle'`) or at random, and spread over `bases` in turn (one
 * server, or several replicas as a round-robin load balancer would). Prints one JSON line: requests,
 * statuses, x-cache counts, latency percentiles (ms), and its own CPU seconds.
 *
 * Usage: node bench/recommend.load.ts '<json options>' (requests on standard input, one a line: a path to
 * GET, or `{"method":"POST","path":...,"body":...}`).
 */
import http from 'node:http';
import { text } from 'node:stream/consumers';

const options = JSON.parse(process.argv[2] ?? '{}') as {
  /** One server (the older form of `bases`). */
  base?: string;
  bases?: string[];
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  pick: 'cycle' | 'random';
  headers?: Record<string, string>;
};

interface Request {
  method: string;
  path: string;
  body?: Buffer;
}
const requests: Request[] = (await text(process.stdin))
  .split('\n')
  .filter(Boolean)
  .map((line) => {
    if (!line.startsWith('{')) return { method: 'GET', path: line };
    const parsed = JSON.parse(line) as { method: string; path: string; body?: unknown };
    return {
      method: parsed.method,
      path: parsed.path,
      body: parsed.body === undefined ? undefined : Buffer.from(JSON.stringify(parsed.body)),
    };
  });
if (requests.length === 0) throw new Error('no requests on standard input');

const targets = (options.bases ?? [options.base ?? '']).map((base) => {
  const url = new URL(base);
  return {
    host: url.hostname,
    port: url.port,
    agent: new http.Agent({ keepAlive: true, maxSockets: options.concurrency }),
  };
});

function send(request: Request, target: (typeof targets)[number]) {
  return new Promise<{ status: number; cache: string | undefined }>((resolve, reject) => {
    const outgoing = http.request(
      {
        host: target.host,
        port: target.port,
        method: request.method,
        path: request.path,
        agent: target.agent,
        headers: request.body
          ? { ...options.headers, 'content-type': 'application/json', 'content-length': request.body.length }
          : options.headers,
      },
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
    outgoing.on('error', reject);
    outgoing.end(request.body);
  });
}

let turn = 0;
let sent = 0;
const nextRequest = () =>
  options.pick === 'cycle'
    ? requests[turn++ % requests.length]!
    : requests[Math.floor(Math.random() * requests.length)]!;

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
      const answer = await send(nextRequest(), targets[sent++ % targets.length]!);
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
for (const target of targets) target.agent.destroy();

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
