/**
 * The ranking catalog as one binary artefact, stored with each ranker (ranker_models.catalog) and loaded by
 * every process: a JSON header (item ids, which arrays follow and their lengths), then the typed arrays, each
 * at a 4-byte boundary. Decoding copies nothing but the header; the arrays are views on the buffer.
 */
import {
  COLLABORATIVE_SOURCES,
  type CollaborativeSourceName,
  type RankingCatalog,
} from './ranking-features.ts';

export interface RankingArtifact {
  /** Item ids by dense index. */
  itemIds: readonly string[];
  catalog: RankingCatalog;
}

type ArrayKind = 'u32' | 'f32' | 'f64';
interface Section {
  name: string;
  kind: ArrayKind;
  length: number;
}
interface Header {
  format: 1;
  itemIds: string[];
  sections: Section[];
}

const BYTES: Record<ArrayKind, number> = { u32: 4, f32: 4, f64: 8 };

export function encodeRankingArtifact({ itemIds, catalog }: RankingArtifact): Uint8Array {
  const arrays: [string, ArrayKind, ArrayLike<number>][] = [];
  for (const name of COLLABORATIVE_SOURCES) {
    const table = catalog.sources[name];
    if (!table) continue;
    arrays.push([`${name}.ptr`, 'u32', table.ptr], [`${name}.index`, 'u32', table.index]);
    arrays.push([`${name}.score`, 'f32', table.score]);
  }
  arrays.push(
    ['popularity', 'f32', catalog.popularity],
    ['popularityRanking', 'u32', catalog.popularityRanking],
    ['trending', 'f32', catalog.trending],
    ['firstSeen', 'f64', catalog.firstSeen],
    ['releaseYear', 'f32', catalog.releaseYear],
    ['genrePtr', 'u32', catalog.genrePtr],
    ['genreIndex', 'u32', catalog.genreIndex],
  );
  if (catalog.rating) arrays.push(['rating', 'f32', catalog.rating]);
  if (catalog.types) arrays.push(['types', 'f32', catalog.types]);
  if (catalog.creditPtr && catalog.creditIndex)
    arrays.push(['creditPtr', 'u32', catalog.creditPtr], ['creditIndex', 'u32', catalog.creditIndex]);
  if (catalog.popularityRank) arrays.push(['popularityRank', 'f32', catalog.popularityRank]);
  const header: Header = {
    format: 1,
    itemIds: [...itemIds],
    sections: arrays.map(([name, kind, values]) => ({ name, kind, length: values.length })),
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const start = align(4 + headerBytes.length, 8);
  let size = start;
  for (const [, kind, values] of arrays) size = align(size, 8) + values.length * BYTES[kind];
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, headerBytes.length, true);
  out.set(headerBytes, 4);
  let at = start;
  for (const [, kind, values] of arrays) {
    at = align(at, 8);
    const view = new (constructorOf(kind))(out.buffer, at, values.length);
    for (let i = 0; i < values.length; i++) view[i] = values[i]!;
    at += values.length * BYTES[kind];
  }
  return out;
}

/** Throws on a malformed artefact (a truncated row, another format): the caller keeps the ranker it has. */
export function decodeRankingArtifact(bytes: Uint8Array): RankingArtifact {
  // A copy aligned at 0: the database driver's buffer may start at any offset of a pooled allocation.
  const buffer = new Uint8Array(bytes).buffer;
  const headerLength = new DataView(buffer).getUint32(0, true);
  if (headerLength + 4 > buffer.byteLength) throw new Error('ranking artefact: truncated header');
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headerLength))) as Header;
  if (header.format !== 1 || !Array.isArray(header.itemIds) || !Array.isArray(header.sections))
    throw new Error('ranking artefact: unknown format');
  const arrays = new Map<string, Uint32Array | Float32Array | Float64Array>();
  let at = align(4 + headerLength, 8);
  for (const section of header.sections) {
    at = align(at, 8);
    const end = at + section.length * BYTES[section.kind];
    if (end > buffer.byteLength) throw new Error(`ranking artefact: ${section.name} is truncated`);
    arrays.set(section.name, new (constructorOf(section.kind))(buffer, at, section.length));
    at = end;
  }
  const get = (name: string) => {
    const array = arrays.get(name);
    if (!array) throw new Error(`ranking artefact: ${name} is missing`);
    return array;
  };
  const sources: Partial<
    Record<CollaborativeSourceName, RankingCatalog['sources'][CollaborativeSourceName]>
  > = {};
  for (const name of COLLABORATIVE_SOURCES)
    if (arrays.has(`${name}.ptr`))
      sources[name] = { ptr: get(`${name}.ptr`), index: get(`${name}.index`), score: get(`${name}.score`) };
  const items = header.itemIds.length;
  const catalog: RankingCatalog = {
    items,
    sources,
    popularity: get('popularity'),
    popularityRanking: get('popularityRanking'),
    trending: get('trending'),
    firstSeen: get('firstSeen'),
    releaseYear: get('releaseYear'),
    genrePtr: get('genrePtr'),
    genreIndex: get('genreIndex'),
    ...(arrays.has('rating') && { rating: get('rating') }),
    // Absent from artefacts stored before they were added: their features are then missing.
    ...(arrays.has('types') && { types: get('types') }),
    ...(arrays.has('creditPtr') && { creditPtr: get('creditPtr'), creditIndex: get('creditIndex') }),
    ...(arrays.has('popularityRank') && { popularityRank: get('popularityRank') }),
  };
  if (catalog.genrePtr.length !== items + 1 || catalog.popularity.length !== items)
    throw new Error('ranking artefact: arrays do not match the item count');
  return { itemIds: header.itemIds, catalog };
}

/** Bytes the arrays of a catalog hold (what a process pays to keep it in memory). */
export function rankingCatalogBytes(catalog: RankingCatalog): number {
  let bytes = 0;
  const add = (values: ArrayLike<number>) => {
    bytes += ArrayBuffer.isView(values) ? values.byteLength : values.length * 8;
  };
  for (const table of Object.values(catalog.sources)) {
    add(table.ptr);
    add(table.index);
    add(table.score);
  }
  for (const values of [
    catalog.popularity,
    catalog.popularityRanking,
    catalog.trending,
    catalog.firstSeen,
    catalog.releaseYear,
    catalog.genrePtr,
    catalog.genreIndex,
    catalog.rating ?? [],
    catalog.types ?? [],
    catalog.creditPtr ?? [],
    catalog.creditIndex ?? [],
    catalog.popularityRank ?? [],
  ])
    add(values);
  return bytes;
}

function constructorOf(kind: ArrayKind) {
  return kind === 'u32' ? Uint32Array : kind === 'f32' ? Float32Array : Float64Array;
}

function align(offset: number, to: number): number {
  return Math.ceil(offset / to) * to;
}
