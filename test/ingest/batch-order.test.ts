import fc from 'fast-check';
import t from 'tap';
import { BatchOrder } from '../../src/ingest/batch-order.ts';

t.test('a batch waits for every earlier batch that last held one of its ids, and only those', async (t) => {
  const order = new BatchOrder(10);
  t.same(order.add(0, ['a', 'b']), { after: [], forgotten: undefined });
  t.same(order.add(1, ['c', 'd']), { after: [], forgotten: undefined }, 'no shared id: writes in parallel');
  t.same(order.add(2, ['a', 'c', 'e']), { after: [0, 1], forgotten: undefined });
  // "a" was last in batch 2 (which waits for 0 itself): 3 waits for 2 only for it, and for 1 for "d".
  t.same(order.add(3, ['a', 'd']), { after: [1, 2], forgotten: undefined });
  t.same(order.add(4, ['z', 'z']), { after: [], forgotten: undefined }, 'an id twice in one batch');
});

t.test('a batch leaving the window is handed back, and is no longer waited for', async (t) => {
  const order = new BatchOrder(2);
  t.equal(order.add(0, ['a']).forgotten, undefined);
  t.equal(order.add(1, ['b']).forgotten, undefined);
  t.equal(order.add(2, ['c']).forgotten, 0);
  // The reader saw batch 0 written before going on: "a" needs no wait.
  t.same(order.add(3, ['a', 'c']), { after: [2], forgotten: 1 });
  t.throws(() => new BatchOrder(0));
});

t.test('property: following the waits writes every id last by the file order', async () => {
  // Batches of ids from a small alphabet, written in a random order that respects the waits (and the window:
  // a forgotten batch is written before the next batch is handed out): the last writer of each id is the
  // last batch that holds it.
  const batches = fc.array(fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), { maxLength: 4 }), {
    minLength: 1,
    maxLength: 12,
  });
  fc.assert(
    fc.property(
      batches,
      fc.integer({ min: 1, max: 5 }),
      fc.infiniteStream(fc.nat()),
      (ids, window, picks) => {
        const order = new BatchOrder(window);
        const waits: number[][] = [];
        const written = new Set<number>();
        const lastWriter = new Map<string, number>();
        const pending: number[] = [];
        const pick = picks[Symbol.iterator]();
        const writeOne = (mustWrite?: number) => {
          const ready = pending.filter((batch) => (waits[batch] ?? []).every((other) => written.has(other)));
          if (ready.length === 0) throw new Error('nothing can be written: a wait cycle');
          const chosen =
            mustWrite !== undefined && ready.includes(mustWrite)
              ? mustWrite
              : (ready[(pick.next().value as number) % ready.length] as number);
          pending.splice(pending.indexOf(chosen), 1);
          written.add(chosen);
          for (const id of ids[chosen] ?? []) lastWriter.set(id, chosen);
        };
        ids.forEach((batchIds, batchNo) => {
          const { after, forgotten } = order.add(batchNo, batchIds);
          waits[batchNo] = after;
          // The reader hands the batch out only once the forgotten one is written.
          if (forgotten !== undefined) while (!written.has(forgotten)) writeOne(forgotten);
          pending.push(batchNo);
        });
        while (pending.length > 0) writeOne();
        ids.forEach((batchIds, batchNo) => {
          for (const id of batchIds)
            if (
              ids.slice(batchNo + 1).every((later) => !later.includes(id)) &&
              lastWriter.get(id) !== batchNo
            )
              throw new Error(`${id} last written by batch ${lastWriter.get(id)}, not ${batchNo}`);
        });
      },
    ),
    { numRuns: 500 },
  );
});
