import { fnv1a } from '../fnv1a.ts';

/**
 * Which earlier batch of an import a batch must wait for before it writes, so that when an id appears in
 * several batches the last record wins, as in one sequential pass, while batches that share no id write in
 * parallel (several workers, several Postgres connections).
 *
 * The reader remembers the ids of its last `window` batches, as 32-bit hashes: for each of its ids, a batch
 * waits for the latest earlier batch that holds it (which itself waited for the one before it with that
 * id). A hash collision only adds a wait, never removes one. A batch that leaves the window must be written
 * before the reader goes on (`forgotten`), so that no later batch can depend on a batch it no longer
 * remembers.
 */
export class BatchOrder {
  private readonly latestBatchOf = new Map<number, number>();
  private readonly remembered: { batchNo: number; hashes: number[] }[] = [];
  private readonly window: number;

  constructor(window: number) {
    if (!Number.isInteger(window) || window < 1) throw new Error('the window is at least one batch');
    this.window = window;
  }

  /**
   * Remembers batch `batchNo` (numbered from 0 upwards, in order) and its ids. Returns the batches it must
   * wait for (ascending; empty: none) and the batch that just left the window, which the reader must see
   * written before it hands out the next one (undefined: none).
   */
  add(batchNo: number, ids: Iterable<string>): { after: number[]; forgotten: number | undefined } {
    const after = new Set<number>();
    const hashes: number[] = [];
    for (const id of ids) {
      const hash = fnv1a(id);
      const earlier = this.latestBatchOf.get(hash);
      if (earlier !== undefined && earlier !== batchNo) after.add(earlier);
      this.latestBatchOf.set(hash, batchNo);
      hashes.push(hash);
    }
    this.remembered.push({ batchNo, hashes });
    let forgotten: number | undefined;
    if (this.remembered.length > this.window) {
      const oldest = this.remembered.shift() as { batchNo: number; hashes: number[] };
      for (const hash of oldest.hashes)
        if (this.latestBatchOf.get(hash) === oldest.batchNo) this.latestBatchOf.delete(hash);
      forgotten = oldest.batchNo;
    }
    return { after: [...after].sort((a, b) => a - b), forgotten };
  }
}
