import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { CLI, freePort } from '../test/helpers/spawn-server.ts';

export interface ServeProcess {
  process: ChildProcess;
  base: string;
  logFile: string;
  stop(): Promise<void>;
}

/**
 * `marquee serve` as a real process on a free port, ready once /readyz answers 200; its log goes to
 * `logFile` (pino writes a line per request at info, which a pipe read by the benchmark would slow down).
 * `env` is the whole environment of the process.
 */
export async function startServeProcess(
  env: Record<string, string>,
  logFile: string,
  { readyWithinMs = 60_000 } = {},
): Promise<ServeProcess> {
  const port = await freePort();
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { ...env, PORT: String(port) },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  };
  const started = performance.now();
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(
        `marquee serve exited (${child.exitCode}):\n${(await readFile(logFile, 'utf8')).slice(-3_000)}`,
      );
    if (performance.now() - started > readyWithinMs) {
      child.kill('SIGKILL');
      throw new Error(`marquee serve was not ready within ${readyWithinMs / 1000} s`);
    }
    const ready = await fetch(`${base}/readyz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { process: child, base, logFile, stop };
}

/** The first warnings and errors a server logged (pino levels 40 to 60). */
export async function serverLogProblems(logFile: string): Promise<string[]> {
  const lines = (await readFile(logFile, 'utf8').catch(() => '')).split('\n');
  return lines.filter((line) => /"level":(40|50|60)/.test(line)).slice(0, 5);
}

/**
 * Waits until the server holds its model in memory (GET /v1/admin/models: every part held, or not held for a
 * reason other than not being loaded yet), so that a measurement does not include the load. Returns the
 * status it saw last, and how long the wait took.
 */
export async function waitForModelInMemory(
  base: string,
  headers: Record<string, string>,
  { withinMs = 600_000 } = {},
): Promise<{ inMemory: unknown; waitedMs: number }> {
  const started = performance.now();
  for (;;) {
    const response = await fetch(`${base}/v1/admin/models`, { headers });
    const body = (await response.json()) as {
      inMemory?: Record<string, { held: boolean; reason: string | null }>;
    };
    const parts = Object.values(body.inMemory ?? {});
    const settled = parts.every(
      (part) => part.held || (part.reason !== null && part.reason !== 'not loaded yet'),
    );
    if (response.status === 200 && parts.length > 0 && settled)
      return { inMemory: body.inMemory, waitedMs: Math.round(performance.now() - started) };
    if (performance.now() - started > withinMs)
      throw new Error(`the model was not in memory within ${withinMs / 1000} s: ${JSON.stringify(body)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
