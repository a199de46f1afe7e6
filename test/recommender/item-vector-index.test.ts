import t from 'tap';
import {
  buildVectorIndex,
  buildVectorIndexOffThread,
  ItemVectorIndex,
} from '../../src/recommender/item-vector-index.ts';
import { ItemVectors } from '../../src/recommender/model-snapshot.ts';

const DIMENSION = 32;

/** Unit vectors around 40 centres (catalog embeddings cluster by genre and style), seeded. */
function clustered(count: number): Float32Array[] {
  let seed = 7;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648 - 0.5;
  const centres = Array.from({ length: 40 }, () => Array.from({ length: DIMENSION }, random));
  return Array.from({ length: count }, (_, i) => {
    const vector = Float32Array.from(centres[i % 40]!, (value) => value + 0.4 * random());
    const norm = Math.hypot(...vector);
    return vector.map((value) => value / norm);
  });
}

function vectorsOf(data: readonly Float32Array[]): ItemVectors {
  const vectors = new ItemVectors(DIMENSION);
  data.forEach((vector, i) => vectors.set(`item-${i}`, vector));
  return vectors;
}

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((sum, value, d) => sum + value * b[d]!, 0);

function exactNearest(data: readonly Float32Array[], query: Float32Array, k: number): number[] {
  return data
    .map((vector, key) => ({ key, similarity: cosine(query, vector) }))
    .sort((a, b) => b.similarity - a.similarity)
    .slice(0, k)
    .map((entry) => entry.key);
}

t.test('recall of the true 50 nearest above 0.95, similarities within int8 error', async (t) => {
  const data = clustered(4_000);
  const vectors = vectorsOf(data);
  const index = buildVectorIndex(vectors.raw());
  t.equal(index.size, 4_000);
  let found = 0;
  const queries = 50;
  for (let q = 0; q < queries; q++) {
    const query = data[q * 37]!;
    const truth = new Set(exactNearest(data, query, 50));
    const answer = index.nearest(query, 50);
    t.equal(answer.length, 50);
    found += answer.filter((entry) => truth.has(entry.key)).length;
    for (const entry of answer.slice(0, 5))
      t.ok(Math.abs(entry.similarity - cosine(query, data[entry.key]!)) < 0.02, 'similarity');
    t.ok(
      answer.every((entry, at) => at === 0 || answer[at - 1]!.similarity >= entry.similarity - 1e-6),
      'nearest first',
    );
  }
  const recall = found / (queries * 50);
  t.ok(recall > 0.95, `recall@50 ${recall.toFixed(3)}`);
});

t.test(
  'upsert replaces a vector; k beyond the size; a query of another dimension finds nothing',
  async (t) => {
    const data = clustered(200);
    const vectors = vectorsOf(data);
    const index = buildVectorIndex(vectors.raw());
    const target = data[5]!;
    // Key 9 takes key 5's vector: it is now (one of) the nearest to it.
    vectors.set('item-9', target);
    index.upsert(vectors.index('item-9')!, vectors.quantized('item-9')!);
    t.equal(index.size, 200, 'replaced, not added');
    const top = index.nearest(target, 2).map((entry) => entry.key);
    t.same(top.sort(), [5, 9]);
    t.equal(index.nearest(target, 10_000).length, 200);
    t.same(index.nearest(new Float32Array(3), 5), []);
    t.same(ItemVectorIndex.empty(DIMENSION).nearest(target, 5), []);
  },
);

t.test('built on a thread: the same answers', async (t) => {
  const data = clustered(1_000);
  const vectors = vectorsOf(data);
  const here = buildVectorIndex(vectors.raw());
  const raw = vectors.raw();
  const copy = { ...raw, values: raw.values.slice() };
  const there = await buildVectorIndexOffThread(copy);
  t.equal(copy.values.byteLength, 0, 'the copy was transferred');
  t.equal(there.size, 1_000);
  const query = data[123]!;
  t.same(
    there.nearest(query, 10).map((entry) => entry.key)[0],
    here.nearest(query, 10).map((entry) => entry.key)[0],
    'the nearest is the item itself',
  );
  t.equal(there.nearest(query, 1)[0]!.key, 123);
});
