import cliProgress from 'cli-progress';
import type { ImportStatus } from '../schemas/imports.schema.ts';

/** What `marquee import` shows while it runs: a bar on a terminal, a plain line every few seconds otherwise. */
export interface ImportProgressDisplay {
  /** `bytesRead` of `totalBytes` drive the bar (a file); without a size (stdin) it shows counts only. */
  update(status: ImportStatus, bytesRead: number): void;
  stop(): void;
}

const written = (status: ImportStatus) =>
  status.counts.inserted + status.counts.updated + status.counts.unchanged + status.counts.deleted;
const BAR_STEPS = 1_000;

/**
 * The share of the whole import done: the share of the file read, times the share of the records read so far
 * that are written (a reader runs ahead of the writes by a few batches).
 */
export function importDoneShare(status: ImportStatus, bytesRead: number, totalBytes: number): number {
  if (status.status === 'completed') return 1;
  const read = totalBytes > 0 ? Math.min(bytesRead / totalBytes, 1) : 1;
  const settled = written(status) + status.counts.failed;
  return status.counts.received === 0 ? 0 : read * Math.min(settled / status.counts.received, 1);
}

export function createImportProgressDisplay(options: {
  stream: NodeJS.WriteStream;
  totalBytes: number | undefined;
  /** Plain lines at most this often (not a terminal). */
  lineIntervalMs?: number;
  now?: () => number;
}): ImportProgressDisplay {
  const { stream, totalBytes } = options;
  const now = options.now ?? Date.now;
  const started = now();
  const rate = (status: ImportStatus) =>
    Math.round(status.counts.received / Math.max((now() - started) / 1000, 0.001));

  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format:
          totalBytes === undefined
            ? ' {status} | {received} read | {written} written | {failed} failed | {rate}/s'
            : ' {bar} {percentage}% | {status} | {received} read | {written} written | {failed} failed | {rate}/s | ETA {eta_formatted}',
        hideCursor: true,
        etaBuffer: 50,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(BAR_STEPS, 0, { status: 'receiving', received: 0, written: 0, failed: 0, rate: 0 });
    return {
      update(status, bytesRead) {
        const done = totalBytes === undefined ? 0 : importDoneShare(status, bytesRead, totalBytes);
        bar.update(Math.round(done * BAR_STEPS), {
          status: status.status,
          received: status.counts.received,
          written: written(status),
          failed: status.counts.failed,
          rate: rate(status),
        });
      },
      stop() {
        bar.stop();
      },
    };
  }

  const interval = options.lineIntervalMs ?? 2_000;
  let lastLine = -Infinity;
  return {
    update(status, bytesRead) {
      if (now() - lastLine < interval) return;
      lastLine = now();
      const share =
        totalBytes === undefined
          ? ''
          : ` (${Math.round((100 * Math.min(bytesRead, totalBytes)) / totalBytes)} % of the file)`;
      stream.write(
        `${status.status}: ${status.counts.received} read${share}, ${written(status)} written, ${status.counts.failed} failed, ${rate(status)}/s\n`,
      );
    },
    stop() {},
  };
}
