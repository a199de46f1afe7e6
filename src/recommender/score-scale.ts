/**
 * The one scale of `score` on every recommending endpoint: 0 to 1, relative to the strongest item of the answer
 * (1). The strategies' raw scores (blended source shares, cosine similarities, decayed counts, fused ranks)
 * mean different things and are comparable within one answer only; this says so in numbers, keeping their
 * order. An answer's pages share its scale (the ranked answer is scaled before it is cut into pages).
 */
export function scaleScores<T extends { score: number }>(items: readonly T[]): T[] {
  let strongest = 0;
  for (const item of items) if (item.score > strongest) strongest = item.score;
  return items.map((item) => ({
    ...item,
    score: strongest > 0 ? Math.round((Math.max(0, item.score) / strongest) * 10_000) / 10_000 : 0,
  }));
}
