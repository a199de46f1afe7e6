/**
 * Time-decayed trending scores kept in log space against a fixed reference time, so that an event is added
 * with one log-add and time never rewrites a row. An item's score over a window with half-life h is
 *
 *   L = ln Σ exp(λ · (t − T0)),   λ = ln 2 / h,
 *
 * over its positive events at times t (seconds). The decayed sum at any moment `now` is exp(L − λ·(now − T0)):
 * every item is divided by the same factor as time passes, so ordering by L is ordering by the decayed sums,
 * at every moment, without touching the rows.
 */

/** Half-lives of the trending windows, in days. */
export const TRENDING_HALF_LIVES = { day: 1, week: 7, month: 30 } as const;
export type TrendingWindowName = keyof typeof TRENDING_HALF_LIVES;
export const TRENDING_WINDOWS = Object.keys(TRENDING_HALF_LIVES) as TrendingWindowName[];

/** T0: 2000-01-01T00:00:00Z, in epoch seconds. */
export const TRENDING_REFERENCE_SECONDS = 946_684_800;

/** λ of a window: ln 2 per half-life, per second. */
export function decayRate(window: TrendingWindowName): number {
  return Math.LN2 / (TRENDING_HALF_LIVES[window] * 86_400);
}

/** The log-space contribution of one event at `timeMs` (epoch milliseconds). */
export function logWeight(window: TrendingWindowName, timeMs: number): number {
  return decayRate(window) * (timeMs / 1000 - TRENDING_REFERENCE_SECONDS);
}

/** ln(e^a + e^b), exact for far-apart values (the larger one wins). -Infinity is the empty sum. */
export function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const high = Math.max(a, b);
  return high + Math.log1p(Math.exp(-Math.abs(a - b)));
}

/**
 * Log scores as decayed sums relative to the strongest of them (1): what a trending list shows as its raw
 * score, whatever the age of the data.
 */
export function relativeToStrongest(logScores: readonly number[]): number[] {
  const strongest = Math.max(...logScores);
  return logScores.map((score) => Math.exp(score - strongest));
}
