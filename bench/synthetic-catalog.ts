import { Readable } from 'node:stream';

/**
 * Synthetic catalog items for the import benchmarks: deterministic (a seeded generator), with the shape of
 * a real catalog (titles, types, genres, cast, a synopsis of 30 to 60 words) and, when `padBytes` is set, an
 * `attributes.notes` field that pads each record to about that size (to make files of a given size without
 * making the embedding text longer).
 */
const WORDS = (
  'love war family secret city night summer journey home friend murder island ocean king queen school ' +
  'detective mystery dream storm fire river mountain road heart ghost soldier doctor father mother sister ' +
  'brother stranger village empire future past lost found escape chase heist revenge truth lie power money ' +
  'music dance team game race star planet space alien robot monster magic witch dragon forest desert winter ' +
  'spring shadow light dark blood gold silver crown sword prison court lawyer police spy agent border ' +
  'train ship plane storm hunter farmer chef kitchen wedding funeral birthday holiday christmas college ' +
  'teacher student prince princess pirate treasure map code hacker virus cure hospital nurse artist painter'
).split(' ');
const GENRES = [
  'Dramas',
  'Comedies',
  'Action & Adventure',
  'Thrillers',
  'Horror Movies',
  'Romantic Movies',
  'Documentaries',
  'Kids TV',
  'Sci-Fi & Fantasy',
  'Crime TV Shows',
  'International Movies',
  'Anime Series',
  'Stand-Up Comedy',
  'Music & Musicals',
  'Reality TV',
  'Sports Movies',
];
const NAMES = (
  'Ana Ben Chloe David Elena Farid Grace Hiro Ines Jonas Kemal Lena Mateo Nora Omar Priya Quinn Rosa ' +
  'Sami Tara Umar Vera Wei Xenia Yusuf Zoe'
).split(' ');

function generator(seed: number) {
  let state = seed % 2_147_483_647 || 1;
  const next = () => (state = (state * 48_271) % 2_147_483_647) / 2_147_483_647;
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)] as T;
  return { next, pick };
}

export function syntheticItem(index: number, padBytes = 0): Record<string, unknown> {
  const { next, pick } = generator(index * 7_919 + 1);
  const words = (count: number) => Array.from({ length: count }, () => pick(WORDS)).join(' ');
  const genres = [...new Set(Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick(GENRES)))];
  const item: Record<string, unknown> = {
    id: `syn-${index}`,
    title: `${words(1 + Math.floor(next() * 3))} ${index}`.replace(/^./, (first) => first.toUpperCase()),
    type: next() < 0.7 ? 'movie' : 'series',
    genres,
    credits: Array.from({ length: 2 + Math.floor(next() * 4) }, (_, position) => ({
      name: `${pick(NAMES)} ${pick(NAMES)}son`,
      role: position === 0 ? 'director' : 'actor',
    })),
    description: `${words(30 + Math.floor(next() * 30))}.`,
    releaseDate: `${1960 + Math.floor(next() * 65)}-01-01`,
    durationSeconds: 1_800 + Math.floor(next() * 9_000),
  };
  if (padBytes > 0) {
    const size = JSON.stringify(item).length;
    if (padBytes > size + 40) item.attributes = { notes: words(Math.ceil((padBytes - size - 40) / 7)) };
  }
  return item;
}

/** NDJSON of synthetic items, produced as it is read: `count` records, or records until `bytes` are out. */
export function syntheticNdjson(options: { count?: number; bytes?: number; padBytes?: number }): Readable {
  let index = 0;
  let produced = 0;
  return new Readable({
    read() {
      const lines: string[] = [];
      let chunkBytes = 0;
      while (chunkBytes < 256 * 1024) {
        if (options.count !== undefined && index >= options.count) break;
        if (options.bytes !== undefined && produced >= options.bytes) break;
        const line = `${JSON.stringify(syntheticItem(index++, options.padBytes))}\n`;
        lines.push(line);
        chunkBytes += line.length;
        produced += line.length;
      }
      this.push(lines.length > 0 ? lines.join('') : null);
    },
  });
}
