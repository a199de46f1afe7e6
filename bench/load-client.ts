import { spawn } from 'node:child_process';
import { once } from 'node:events';

/** What bench/recommend.load.ts reports for its measured window. */
export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  statuses: Record<string, number>;
  cache: Record<string, number>;
  /** The load generator's own CPU seconds over the window. */
  cpuSeconds: number;
}

export interface LoadOptions {
  /** Base URLs of the servers; request n goes to bases[n % bases.length] (a client-side load balancer). */
  bases: readonly string[];
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  /** Requests in turn, or at random. */
  pick: 'cycle' | 'random';
  headers: Record<string, string>;
}

/** A request line for the load generator: a path is a GET; anything else is sent as this JSON. */
export const postRequest = (path: string, body: unknown) => JSON.stringify({ method: 'POST', path, body });

/**
 * Drives the servers with bench/recommend.load.ts in its own process, so that its CPU is not the servers'
 * (on a 2-core machine it still takes a good share of them). `requests` are paths (GET) or postRequest lines.
 */
export async function runLoad(options: LoadOptions, requests: readonly string[]): Promise<LoadResult> {
  const child = spawn(
    process.execPath,
    [new URL('./recommend.load.ts', import.meta.url).pathname, JSON.stringify(options)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  child.stdin.end(requests.join('\n'));
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the load generator exited with ${code}`);
  return JSON.parse(stdout) as LoadResult;
}

/** Requests each path once, `concurrency` at a time (to fill caches); returns the status and x-cache counts. */
export async function warm(
  base: string,
  paths: readonly string[],
  headers: Record<string, string>,
  concurrency: number,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < paths.length) {
        const response = await fetch(`${base}${paths[next++]}`, { headers });
        await response.arrayBuffer();
        const label = `${response.status} ${response.headers.get('x-cache') ?? 'none'}`;
        counts[label] = (counts[label] ?? 0) + 1;
      }
    }),
  );
  return counts;
}

export const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
};

/**
 * The same measurement as runLoad for work done in this process (a bare SQL query, a direct call to a
 * model): `concurrency` loops, each starting its next call when the previous one ends, for `durationMs`
 * after `warmupMs`. `next()` gives the call to make; its latency is measured from the client's side.
 */
export async function runCalls(
  options: Pick<LoadOptions, 'concurrency' | 'durationMs' | 'warmupMs'>,
  next: () => () => Promise<unknown>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const warmupEnd = performance.now() + options.warmupMs;
  const end = warmupEnd + options.durationMs;
  let measuredFrom = warmupEnd;
  let cpuFrom = process.cpuUsage();
  const timer = setTimeout(() => {
    measuredFrom = performance.now();
    cpuFrom = process.cpuUsage();
  }, options.warmupMs);
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      for (;;) {
        const started = performance.now();
        if (started >= end) return;
        try {
          await next()();
          if (started >= warmupEnd) latencies.push(performance.now() - started);
        } catch {
          if (started >= warmupEnd) errors++;
        }
      }
    }),
  );
  clearTimeout(timer);
  const seconds = (performance.now() - measuredFrom) / 1000;
  const cpu = process.cpuUsage(cpuFrom);
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    seconds,
    perSecond: latencies.length / seconds,
    p50: percentile(latencies, 0.5),
    p90: percentile(latencies, 0.9),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1) ?? 0,
    statuses: {},
    cache: {},
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}
