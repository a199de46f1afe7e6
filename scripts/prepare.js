// npm `prepare`, run by `npm install` and `npm ci`. It never fails the install.
//
// 1. Rebuilds the tap test runner with this project's plugin list (package.json "tap": its TypeScript plugin
//    is off, Node strips types itself). tap otherwise rebuilds only during the first `npm test`, after that
//    run has already started its test files with the default plugins.
// 2. Converts the local embedder's word vectors (a 307 MB JSON file) into their compact binary form once.
// 3. Saves an empty embedded database cluster so the first `npm start` and every test database skip PGlite's
//    slow initdb. On a Node.js that cannot run the TypeScript sources, or without the sources (a packaged
//    install), the first start does it instead.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const tap = new URL('../node_modules/.bin/tap', import.meta.url).pathname;
if (existsSync(tap)) {
  const build = spawnSync(tap, ['build'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (build.status !== 0)
    console.warn('marquee: `tap build` failed; `npm test` will rebuild tap on its first run.');
}

const source = new URL('../src/db/embedded-template.ts', import.meta.url);
if (!process.features.typescript || !existsSync(source)) process.exit(0);

try {
  const { wordVectorsCachePath, loadWordVectors } = await import(
    new URL('../src/embedding/word-vectors.ts', import.meta.url).href
  );
  const path = await wordVectorsCachePath();
  if (!existsSync(path)) {
    await loadWordVectors();
    console.log(`marquee: built the local embedder's word vectors at ${path}`);
  }
} catch (error) {
  console.warn(`marquee: could not build the word vectors (${error.message}); the first use will.`);
}

try {
  const { embeddedTemplatePath, saveEmbeddedTemplate } = await import(source.href);
  const path = await embeddedTemplatePath();
  if (existsSync(path)) process.exit(0);
  const { PGlite } = await import('@electric-sql/pglite');
  const { vector } = await import('@electric-sql/pglite-pgvector');
  const database = await PGlite.create('memory://', { extensions: { vector } });
  await saveEmbeddedTemplate(database);
  await database.close();
  console.log(`marquee: saved the embedded database template at ${path}`);
} catch (error) {
  console.warn(`marquee: could not prepare the embedded database template (${error.message}); continuing.`);
}
