/**
 * Do nearest neighbours by embedding share a genre with the query item more often than random pairs do?
 * Embeds the netflix catalog (../shared/data/netflix) with the configured embedder (local by default; set
 * MARQUEE_EMBEDDER=openai and OPENAI_BASE_URL to measure another), once with the default fields and once
 * with title and description only (no genre words in the text), and prints for each: the share of the 10
 * exact nearest neighbours of every 9th title that share at least one genre with it, against the same share
 * for 20,000 random pairs. Embeds in memory, writes nothing.
 *
 * Run: npm run bench:embedding-genres
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parse } from 'csv-parse/sync';
import { type EmbeddableField, loadConfig } from '../src/config.ts';
import { createEmbedder } from '../src/embedding/create-embedder.ts';
import { itemEmbeddingText } from '../src/embedding/item-text.ts';

const NETFLIX = new URL('../../shared/data/netflix/netflix_titles.csv', import.meta.url).pathname;
if (!existsSync(NETFLIX)) {
  console.log(`bench:embedding-genres needs ${NETFLIX}; it is absent, nothing measured.`);
  process.exit(0);
}
const names = (text: string) =>
  text
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
const rows = parse<Record<string, string>>(readFileSync(NETFLIX), { columns: true });
const items = rows.map((row) => ({
  title: row.title ?? '',
  type: row.type === 'Movie' ? 'movie' : 'series',
  genres: names(row.listed_in ?? ''),
  tags: [],
  credits: [
    ...names(row.director ?? '').map((name) => ({ name, role: 'director' })),
    ...names(row.cast ?? '').map((name) => ({ name, role: 'actor' })),
  ],
  description: row.description ?? null,
  language: null,
  releaseYear: Number(row.release_year) || null,
  maturityRating: row.rating ?? null,
  regions: names(row.country ?? ''),
}));
const config = loadConfig(process.env);
const embedder = await createEmbedder(config);
const shareGenre = (a: number, b: number) =>
  items[a]!.genres.some((genre) => items[b]!.genres.includes(genre));

let seed = 1;
const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
let randomShared = 0;
let randomPairs = 0;
while (randomPairs < 20_000) {
  const a = Math.floor(random() * items.length);
  const b = Math.floor(random() * items.length);
  if (a === b) continue;
  randomPairs++;
  if (shareGenre(a, b)) randomShared++;
}

console.log(
  `| embedder | fields | items/s embedded | neighbours sharing a genre (top 10) | random pairs sharing a genre |\n| --- | --- | ---: | ---: | ---: |`,
);
for (const fields of [config.embedding.fields, ['title', 'description'] as EmbeddableField[]]) {
  const started = performance.now();
  const vectors = await embedder.embed(items.map((item) => itemEmbeddingText(item, fields)));
  const seconds = (performance.now() - started) / 1000;
  let shared = 0;
  let total = 0;
  for (let query = 0; query < items.length; query += 9) {
    const scores: [number, number][] = [];
    const vector = vectors[query]!;
    for (let other = 0; other < items.length; other++) {
      if (other === query) continue;
      const candidate = vectors[other]!;
      let dot = 0;
      for (let index = 0; index < vector.length; index++) dot += vector[index]! * candidate[index]!;
      scores.push([dot, other]);
    }
    scores.sort((a, b) => b[0] - a[0]);
    for (const [, other] of scores.slice(0, 10)) {
      total++;
      if (shareGenre(query, other)) shared++;
    }
  }
  console.log(
    `| ${config.embedding.provider} (${config.embedding.model}, ${config.embedding.dimension}) | ${fields.join(', ')} | ${Math.round(items.length / seconds)} | ${(shared / total).toFixed(3)} | ${(randomShared / randomPairs).toFixed(3)} |`,
  );
}
console.log(
  `\n${items.length} titles. Machine: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores, Node ${process.version}; ${new Date().toISOString()}`,
);
