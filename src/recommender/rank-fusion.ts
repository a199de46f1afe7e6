/**
 * Reciprocal-rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009): an item at rank r (from 1) of a list
 * earns weight / (k + r) from it, summed over the lists it is in. Only ranks count, so lists scored on
 * unrelated scales (ts_rank_cd, cosine similarity) fuse without calibrating one against the other. Pure.
 */

/** The usual k: large enough that rank 1 is not worth much more than rank 5, as in the original paper. */
export const RRF_K = 60;

export interface RankedList<Name extends string = string> {
  name: Name;
  weight: number;
  /** Best first; a repeated id counts at its first rank only. */
  ids: readonly string[];
}

export interface FusedItem<Name extends string = string> {
  id: string;
  score: number;
  /** Each list the item is in, the largest contribution first. */
  contributions: { name: Name; rank: number; score: number }[];
}

/** Fused items, best first; ties go to the item with the better single rank, then to the smaller id. */
export function reciprocalRankFusion<Name extends string>(
  lists: readonly RankedList<Name>[],
  k: number = RRF_K,
): FusedItem<Name>[] {
  const fused = new Map<string, FusedItem<Name>>();
  for (const list of lists) {
    if (list.weight <= 0) continue;
    const seen = new Set<string>();
    for (const id of list.ids) {
      if (seen.has(id)) continue;
      seen.add(id);
      const rank = seen.size;
      const score = list.weight / (k + rank);
      const entry = fused.get(id) ?? { id, score: 0, contributions: [] };
      entry.score += score;
      entry.contributions.push({ name: list.name, rank, score });
      fused.set(id, entry);
    }
  }
  const bestRank = (item: FusedItem<Name>) => Math.min(...item.contributions.map((part) => part.rank));
  for (const item of fused.values()) item.contributions.sort((a, b) => b.score - a.score);
  return [...fused.values()].sort(
    (a, b) => b.score - a.score || bestRank(a) - bestRank(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}
