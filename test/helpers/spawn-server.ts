import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

export const CLI = new URL('../../bin/marquee.js', import.meta.url).pathname;

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface RunningServer {
  process: ChildProcess;
  baseUrl: string;
  /** Everything the process printed so far. */
  output: () => string;
  /** Sends a signal and resolves with the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** Runs `marquee serve` as a real process and waits until /readyz answers 200. */
export async function startServerProcess(
  env: Record<string, string>,
  { readyWithinMs = 30_000 } = {},
): Promise<RunningServer & { readyAfterMs: number }> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const baseUrl = `http://127.0.0.1:${port}`;
  const exited = once(child, 'exit');
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const [code] = (await exited) as [number | null];
    return code;
  };
  while (performance.now() - started < readyWithinMs) {
    if (child.exitCode !== null)
      throw new Error(`marquee serve exited early (${child.exitCode}):\n${output}`);
    const ready = await fetch(`${baseUrl}/readyz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready)
      return {
        process: child,
        baseUrl,
        output: () => output,
        stop,
        readyAfterMs: performance.now() - started,
      };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop('SIGKILL');
  throw new Error(`marquee serve was not ready within ${readyWithinMs} ms:\n${output}`);
}

export interface WorkerProcess {
  process: ChildProcess;
  /** Everything the process printed so far. */
  output: () => string;
  /** Import batches this worker logged as done (those of one import when importId is given). */
  batchesDone: (importId?: string) => number;
  /** Resolves once the worker logs that it is running; rejects when it exits first or takes too long. */
  ready: (withinMs?: number) => Promise<void>;
  /** Sends a signal (unless it has exited) and resolves with the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** Runs `marquee worker` as a real process (served mode: the env needs DATABASE_URL and REDIS_URL). */
export function startWorkerProcess(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, [CLI, 'worker'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit');
  return {
    process: child,
    output: () => output,
    batchesDone: (importId) =>
      output
        .split('\n')
        .filter(
          (line) =>
            line.includes('"import batch done"') &&
            (importId === undefined || line.includes(`"importId":"${importId}"`)),
        ).length,
    ready: async (withinMs = 30_000) => {
      const started = performance.now();
      while (!output.includes('marquee worker is running')) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`marquee worker exited early (${child.exitCode ?? child.signalCode}):\n${output}`);
        if (performance.now() - started > withinMs)
          throw new Error(`marquee worker was not running within ${withinMs} ms:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}
