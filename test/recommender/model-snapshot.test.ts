import t from 'tap';
import { ItemVectors, NeighbourLists } from '../../src/recommender/model-snapshot.ts';

t.test(
  'neighbour lists: each item gets its own list back, whatever order ids were first seen in',
  async (t) => {
    // b and c are seen as neighbours of a before their own lists come, in the other order.
    const lists = NeighbourLists.from([
      { itemId: 'a', neighbourIds: ['c', 'b'], scores: [0.75, 0.5] },
      { itemId: 'b', neighbourIds: ['a'], scores: [0.5] },
      { itemId: 'd', neighbourIds: [], scores: [] },
      { itemId: 'c', neighbourIds: ['a', 'e'], scores: [0.75, 0.25] },
    ]);
    t.same(lists.get('a'), { neighbourIds: ['c', 'b'], scores: [0.75, 0.5] });
    t.same(lists.get('b'), { neighbourIds: ['a'], scores: [0.5] });
    t.same(lists.get('c'), { neighbourIds: ['a', 'e'], scores: [0.75, 0.25] });
    t.equal(lists.get('d'), undefined, 'an empty list is no list');
    t.equal(lists.get('e'), undefined, 'a neighbour without a list of its own');
    t.equal(lists.get('nobody'), undefined);
    t.equal(lists.size, 4);
    t.ok(lists.bytes > 0);
  },
);

t.test('neighbour lists: scores keep float32 precision', async (t) => {
  const lists = NeighbourLists.from([{ itemId: 'a', neighbourIds: ['b'], scores: [1 / 3] }]);
  t.ok(Math.abs(lists.get('a')!.scores[0]! - 1 / 3) < 1e-7);
});

t.test(
  'neighbour lists: edits replace lists in a new instance and leave the old one as it was',
  async (t) => {
    const lists = NeighbourLists.from([
      { itemId: 'a', neighbourIds: ['b', 'c'], scores: [0.625, 0.375] },
      { itemId: 'b', neighbourIds: ['a'], scores: [0.625] },
    ]);
    const edited = lists.withEdits([
      { itemId: 'a', neighbourIds: ['c'], scores: [0.375] },
      { itemId: 'b', neighbourIds: [], scores: [] },
      { itemId: 'z', neighbourIds: ['a'], scores: [0.125] },
    ]);
    t.same(edited.get('a'), { neighbourIds: ['c'], scores: [0.375] });
    t.equal(edited.get('b'), undefined, 'an emptied list');
    t.same(edited.get('z'), { neighbourIds: ['a'], scores: [0.125] }, 'a list new since the load');
    t.same(lists.get('a'), { neighbourIds: ['b', 'c'], scores: [0.625, 0.375] });
    t.same(lists.get('b'), { neighbourIds: ['a'], scores: [0.625] });
    // Edits accumulate.
    t.same(edited.withEdits([{ itemId: 'c', neighbourIds: ['a'], scores: [0.375] }]).get('a'), {
      neighbourIds: ['c'],
      scores: [0.375],
    });
  },
);

t.test('neighbour lists: a repeated item keeps its last row', async (t) => {
  const lists = NeighbourLists.from([
    { itemId: 'a', neighbourIds: ['b'], scores: [0.625] },
    { itemId: 'a', neighbourIds: ['c'], scores: [0.875] },
  ]);
  t.same(lists.get('a'), { neighbourIds: ['c'], scores: [0.875] });
});

t.test('neighbour lists: thousands of lists past the arrays’ first capacity', async (t) => {
  const rows = Array.from({ length: 3_000 }, (_, i) => ({
    itemId: `i${i}`,
    neighbourIds: [`i${(i + 1) % 3_000}`, `i${(i + 2) % 3_000}`],
    scores: [1, 0.5],
  }));
  const lists = NeighbourLists.from(rows);
  t.same(lists.get('i0'), { neighbourIds: ['i1', 'i2'], scores: [1, 0.5] });
  t.same(lists.get('i2999'), { neighbourIds: ['i0', 'i1'], scores: [1, 0.5] });
  t.equal(lists.size, 3_000);
});

t.test('item vectors: int8 quantization comes back within 1/254 of the largest component', async (t) => {
  const vectors = new ItemVectors(4, 1);
  const unit = [0.5, -0.5, 0.5, -0.5];
  const skewed = [0.9, 0.1, -0.3, 0.3];
  t.equal(vectors.set('a', unit), 0);
  t.equal(vectors.set('b', skewed), 1, 'past the first capacity: the arrays grow');
  t.equal(vectors.set('zero', [0, 0, 0, 0]), 2);
  t.equal(vectors.itemId(1), 'b');
  t.equal(vectors.index('b'), 1);
  t.same([...vectors.quantized('a')!], [127, -127, 127, -127]);
  t.same(vectors.raw().values.length, 12);
  for (const [id, original] of [
    ['a', unit],
    ['b', skewed],
  ] as const) {
    const back = vectors.get(id)!;
    const largest = Math.max(...original.map(Math.abs));
    original.forEach((value, d) => t.ok(Math.abs(back[d]! - value) <= largest / 254 + 1e-9, `${id}[${d}]`));
  }
  t.same([...vectors.get('zero')!], [0, 0, 0, 0]);
  t.equal(vectors.get('missing'), undefined);
  t.equal(vectors.size, 3);
});

t.test('item vectors: replaced in place; another dimension is refused', async (t) => {
  const vectors = new ItemVectors(2);
  vectors.set('a', [1, 0]);
  vectors.set('a', [0, 1]);
  t.same([...vectors.get('a')!], [0, 1]);
  t.equal(vectors.set('a', [1, 0, 0]), undefined);
  t.same([...vectors.get('a')!], [0, 1]);
  t.equal(vectors.size, 1);
});

t.test(
  'item vectors: the cosine to a query from the int8 values, as the float vectors give it',
  async (t) => {
    const vectors = new ItemVectors(3);
    const stored: Record<string, number[]> = {
      a: [1, 0, 0],
      b: [0.6, 0.8, 0],
      c: [-0.2, 0.1, 0.97],
      zero: [0, 0, 0],
    };
    for (const [id, vector] of Object.entries(stored)) vectors.set(id, vector);
    const query = [2, 1, 0.5];
    const norm = Math.hypot(...query);
    for (const id of ['a', 'b', 'c']) {
      const vector = stored[id]!;
      const exact =
        vector.reduce((sum, value, d) => sum + value * query[d]!, 0) / (Math.hypot(...vector) * norm);
      t.ok(Math.abs(vectors.cosine(id, query, norm)! - exact) < 0.01, `${id}: ${exact.toFixed(3)}`);
    }
    const decoded = vectors.get('c')!;
    const dot = decoded.reduce((sum, value, d) => sum + value * query[d]!, 0);
    t.ok(Math.abs(vectors.dot('c', query)! - dot) < 1e-6, 'the dot product of the decoded vector');
    t.equal(vectors.dot('nobody', query), undefined);
    t.equal(vectors.cosine('zero', query, norm), 0, 'a zero vector is orthogonal to everything');
    t.equal(vectors.cosine('nobody', query, norm), undefined, 'no vector held');
    t.equal(vectors.cosine('a', [1, 0], 1), undefined, 'another dimension');
  },
);
