import t from 'tap';
import {
  decodeRankingArtifact,
  encodeRankingArtifact,
  rankingCatalogBytes,
} from '../../src/recommender/ranking/ranking-artifact.ts';
import type { RankingCatalog } from '../../src/recommender/ranking/ranking-features.ts';

const catalog: RankingCatalog = {
  items: 3,
  sources: {
    'item-knn': { ptr: [0, 2, 3, 3], index: [1, 2, 0], score: [0.5, 0.25, 0.75] },
    ease: { ptr: [0, 1, 1, 1], index: [2], score: [-0.125] },
  },
  popularity: [3, 2, 0],
  popularityRanking: [0, 1],
  trending: [0.5, 1.5, 0],
  firstSeen: [1_700_000_000_123, Number.NaN, 1_700_000_999_456],
  releaseYear: [1999, Number.NaN, 2024],
  genrePtr: [0, 2, 2, 3],
  genreIndex: [4, 7, 4],
  rating: [0.75, Number.NaN, 0.5],
};

t.test('round trip: every array, the sources present, NaN kept, epoch milliseconds exact', async (t) => {
  const bytes = encodeRankingArtifact({ itemIds: ['a', 'b', 'ç'], catalog });
  // The driver may hand back a view at an odd offset of a larger buffer.
  const shifted = new Uint8Array(bytes.length + 3);
  shifted.set(bytes, 3);
  const { itemIds, catalog: decoded } = decodeRankingArtifact(shifted.subarray(3));
  t.same(itemIds, ['a', 'b', 'ç']);
  t.same(Object.keys(decoded.sources).sort(), ['ease', 'item-knn'], 'rp3beta was absent and stays absent');
  t.same(Array.from(decoded.sources['item-knn']!.index), [1, 2, 0]);
  t.same(Array.from(decoded.sources.ease!.score), [-0.125]);
  t.same(Array.from(decoded.firstSeen).map(String), ['1700000000123', 'NaN', '1700000999456']);
  t.same(Array.from(decoded.genreIndex), [4, 7, 4]);
  t.same(Array.from(decoded.rating!).map(String), ['0.75', 'NaN', '0.5']);
  t.equal(decoded.items, 3);
  t.ok(rankingCatalogBytes(decoded) > 0);
});

t.test('a truncated or foreign artefact is refused, not half-read', async (t) => {
  const bytes = encodeRankingArtifact({ itemIds: ['a', 'b', 'c'], catalog });
  t.throws(() => decodeRankingArtifact(bytes.subarray(0, bytes.length - 8)), /truncated/);
  t.throws(() => decodeRankingArtifact(bytes.subarray(0, 10)), /truncated/);
  const foreign = new TextEncoder().encode(JSON.stringify({ format: 2 }));
  const framed = new Uint8Array(4 + foreign.length);
  new DataView(framed.buffer).setUint32(0, foreign.length, true);
  framed.set(foreign, 4);
  t.throws(() => decodeRankingArtifact(framed), /unknown format/);
});
