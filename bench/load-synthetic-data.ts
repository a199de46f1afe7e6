import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CLI } from '../test/helpers/spawn-server.ts';
import { type CpuShares, describeCpu, trackCpu, watchPeakRss } from './process-usage.ts';
import { syntheticNdjson } from './synthetic-catalog.ts';
import { writeSyntheticEvents } from './synthetic-events.ts';

/**
 * Loads a synthetic catalog and viewing history the way a user would: files written by
 * bench/synthetic-catalog.ts and bench/synthetic-events.ts, imported by real `marquee import items|events`
 * processes (with `marquee worker` processes beside them in served mode), then `marquee train`. Each step
 * is timed, with its peak memory and the CPU it used.
 */

export interface LoadStep {
  step: string;
  records: number;
  /** From spawn to exit. */
  seconds: number;
  /** The import's or training's own duration, without the process start. */
  ownSeconds?: number | undefined;
  /** Peak resident memory by process (import, worker1...). */
  peakRssMb: Record<string, number>;
  detail: string;
}

export interface CliRun {
  stdout: string;
  seconds: number;
  peakRssMb: Record<string, number>;
  cpu: CpuShares;
}

/**
 * Runs `marquee <cliArgs>` to its end with `workers` `marquee worker` processes beside it (served mode);
 * `env` is the processes' whole environment, `dbName` the database whose Postgres backends count.
 */
export async function runCli(
  cliArgs: string[],
  env: Record<string, string>,
  { workers = 0, dbName }: { workers?: number; dbName?: string | undefined } = {},
): Promise<CliRun> {
  const workerProcesses = Array.from({ length: workers }, () =>
    spawn(process.execPath, [CLI, 'worker'], { env, stdio: ['ignore', 'ignore', 'inherit'] }),
  );
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, ...cliArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const name = cliArgs[0] ?? 'cli';
  const cpu = trackCpu(
    () => ({
      [name]: child.pid,
      ...Object.fromEntries(workerProcesses.map((worker, index) => [`worker${index + 1}`, worker.pid])),
    }),
    dbName,
  );
  await cpu.start();
  const peaks = [
    [name, watchPeakRss(child.pid)] as const,
    ...workerProcesses.map((worker, index) => [`worker${index + 1}`, watchPeakRss(worker.pid)] as const),
  ];
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  // The progress display redraws on stderr: keep only the tail.
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
  const [code] = (await once(child, 'exit')) as [number | null];
  const seconds = (performance.now() - started) / 1000;
  const peakRssMb = Object.fromEntries(peaks.map(([label, stop]) => [label, Math.round(stop())]));
  const shares = await cpu.stop();
  for (const worker of workerProcesses) worker.kill('SIGTERM');
  await Promise.all(
    workerProcesses
      .filter((worker) => worker.exitCode === null && worker.signalCode === null)
      .map((worker) => once(worker, 'exit')),
  );
  if (code !== 0) throw new Error(`marquee ${cliArgs.join(' ')} exited with ${code}:\n${stderr}`);
  return { stdout, seconds, peakRssMb, cpu: shares };
}

export interface SyntheticDataOptions {
  items: number;
  users: number;
  events: number;
  /** Ordered by time, each events batch touches hundreds of users whose profiles are all rebuilt. */
  eventOrder: 'user' | 'time';
  /** The CLI processes' whole environment: DATABASE_URL + REDIS_URL (served), or MARQUEE_DATA_DIR. */
  env: Record<string, string>;
  /** `marquee worker` processes beside each import (served mode only). */
  workers: number;
  dbName?: string | undefined;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** Generates, imports and trains; returns the steps as they went. */
export async function loadSyntheticData(options: SyntheticDataOptions): Promise<LoadStep[]> {
  const { items, users, events, log = console.log } = options;
  const steps: LoadStep[] = [];
  const dir = await mkdtemp(join(os.tmpdir(), 'marquee-bench-data-'));
  try {
    const started = performance.now();
    const itemsFile = join(dir, 'items.ndjson');
    await pipeline(syntheticNdjson({ count: items }), createWriteStream(itemsFile));
    const eventsFile = join(dir, 'events.ndjson');
    const summary = await writeSyntheticEvents(eventsFile, {
      items,
      users,
      events,
      order: options.eventOrder,
    });
    const generated = (performance.now() - started) / 1000;
    steps.push({
      step: 'generate files',
      records: items + summary.events,
      seconds: generated,
      peakRssMb: {},
      detail:
        `events per user: max ${summary.maxPerUser}, median ${summary.medianPerUser}; ` +
        `top 1 % of items get ${(summary.topItemsShare * 100).toFixed(0)} % of events; order by ${options.eventOrder}`,
    });
    log(`generated ${items} items and ${summary.events} events in ${generated.toFixed(1)} s`);

    for (const [kind, file, records] of [
      ['items', itemsFile, items],
      ['events', eventsFile, summary.events],
    ] as const) {
      const run = await runCli(['import', kind, file], options.env, {
        workers: options.workers,
        dbName: options.dbName,
      });
      const status = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as {
        status: string;
        counts: Record<string, number>;
        timings: { durationMs: number | null };
      };
      if (status.status !== 'completed') throw new Error(`${kind} import ended ${status.status}`);
      steps.push({
        step: `import ${kind}`,
        records,
        seconds: run.seconds,
        ownSeconds: status.timings.durationMs === null ? undefined : status.timings.durationMs / 1000,
        peakRssMb: run.peakRssMb,
        detail:
          `${JSON.stringify(status.counts)}; peak MB ${JSON.stringify(run.peakRssMb)}; ` +
          `CPU cores: ${describeCpu(run.cpu)}`,
      });
      log(
        `imported ${kind}: ${records} records in ${run.seconds.toFixed(1)} s ` +
          `(${Math.round(records / run.seconds)}/s); ${JSON.stringify(status.counts)}`,
      );
    }

    const train = await runCli(['train'], options.env, { dbName: options.dbName });
    const outcome = JSON.parse(train.stdout.trim().split('\n').at(-1) ?? '{}') as {
      model: string;
      events: number;
      users: number;
      items: number;
      neighbourRows: number;
      durationMs: number;
    };
    steps.push({
      step: 'marquee train',
      records: outcome.events,
      seconds: train.seconds,
      ownSeconds: outcome.durationMs / 1000,
      peakRssMb: train.peakRssMb,
      detail:
        `${outcome.model}: ${outcome.users} users, ${outcome.items} items, ${outcome.neighbourRows} neighbour ` +
        `lists; peak ${train.peakRssMb.train} MB; CPU cores: ${describeCpu(train.cpu)}`,
    });
    log(`trained in ${train.seconds.toFixed(1)} s: ${JSON.stringify(outcome)}`);
    return steps;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
