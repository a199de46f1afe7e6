import { readdir, readFile } from 'node:fs/promises';

/**
 * What the benchmarks measure about processes, from /proc (Linux only): resident memory, CPU time of a
 * process, of the whole machine and of the Postgres backends serving one database.
 */

export function rssMb(pid: number | undefined, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then(
    (text) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0) / 1024,
    () => 0,
  );
}

/** Samples a process's resident memory every `everyMs` until the returned function is called: the peak. */
export function watchPeakRss(pid: number | undefined, everyMs = 250): () => number {
  let peak = 0;
  const timer = setInterval(() => {
    void rssMb(pid).then((mb) => (peak = Math.max(peak, mb)));
  }, everyMs);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

const TICKS = 100; // USER_HZ on Linux.
export async function processCpuSeconds(pid: number | undefined): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / TICKS;
}

/** CPU seconds the whole machine spent busy (all cores, everything but idle and iowait). */
export async function machineBusySeconds(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (user + nice + system + irq + softirq + steal) / TICKS;
}

/** CPU seconds of each Postgres backend connected to `dbName`, by pid. */
export async function postgresBackendsCpu(dbName: string): Promise<Map<number, number>> {
  const titles = new Map<number, string>();
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  await Promise.all(
    pids.map(async (pid) => {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      // A backend's title: "postgres: 15/main: <user> <database> <client> <state>"; the parallel workers
      // of a query or an index build (title "parallel worker for PID <backend>") count with it.
      if (
        cmdline.startsWith('postgres:') &&
        (cmdline.includes(` ${dbName} `) || cmdline.includes('parallel worker'))
      )
        titles.set(Number(pid), cmdline);
    }),
  );
  const cpu = new Map<number, number>();
  for (const [pid, title] of titles) {
    const leader = /parallel worker for PID (\d+)/.exec(title)?.[1];
    if (
      leader === undefined
        ? title.includes(` ${dbName} `)
        : titles.get(Number(leader))?.includes(` ${dbName} `)
    )
      cpu.set(pid, await processCpuSeconds(pid));
  }
  return cpu;
}

export interface CpuShares {
  seconds: number;
  /** Cores used on average over the window, by process name. */
  processes: Record<string, number>;
  postgres: number;
  machine: number;
}

/**
 * Where the CPU went over a window: the named processes, the Postgres backends of `dbName` (sampled every
 * 500 ms, so a backend that lives less than that is missed; none without a name) and the whole machine,
 * which includes other people's work on a shared host.
 */
export function trackCpu(processes: () => Record<string, number | undefined>, dbName?: string) {
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  const backendsFirst = new Map<number, number>();
  const backendsLast = new Map<number, number>();
  let machineFrom = 0;
  let started = 0;
  const sample = async (initial: boolean) => {
    const named = Object.entries(processes());
    const values = await Promise.all(named.map(([, pid]) => processCpuSeconds(pid)));
    named.forEach(([name], index) => {
      const value = values[index] ?? 0;
      if (value === 0) return;
      if (initial || !first.has(name)) first.set(name, initial ? value : 0);
      last.set(name, value);
    });
    if (dbName === undefined) return;
    for (const [pid, value] of await postgresBackendsCpu(dbName)) {
      if (!backendsFirst.has(pid)) backendsFirst.set(pid, initial ? value : 0);
      backendsLast.set(pid, value);
    }
  };
  let timer: NodeJS.Timeout | undefined;
  return {
    async start() {
      started = performance.now();
      machineFrom = await machineBusySeconds();
      await sample(true);
      timer = setInterval(() => void sample(false), 500);
    },
    /** Call before the processes exit. */
    async stop(): Promise<CpuShares> {
      clearInterval(timer);
      await sample(false);
      const seconds = (performance.now() - started) / 1000;
      const shares: Record<string, number> = {};
      for (const [name, value] of last) shares[name] = (value - (first.get(name) ?? 0)) / seconds;
      let postgres = 0;
      for (const [pid, value] of backendsLast) postgres += value - (backendsFirst.get(pid) ?? 0);
      return {
        seconds,
        processes: shares,
        postgres: postgres / seconds,
        machine: ((await machineBusySeconds()) - machineFrom) / seconds,
      };
    },
  };
}

export const describeCpu = (cpu: CpuShares) =>
  [
    ...Object.entries(cpu.processes).map(([name, cores]) => `${name} ${cores.toFixed(2)}`),
    `postgres ${cpu.postgres.toFixed(2)}`,
    `machine ${cpu.machine.toFixed(2)}`,
  ].join(', ');
