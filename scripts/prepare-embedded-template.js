// npm `prepare` (runs on npm install and npm ci): saves an empty embedded cluster so the first `npm start`
// and every test database skip PGlite's slow initdb. Never fails the install: on a Node.js that cannot run
// the TypeScript sources, or without the sources (a packaged install), the first start does it instead.
import { existsSync } from 'node:fs';

const source = new URL('../src/db/embedded-template.ts', import.meta.url);
if (!process.features.typescript || !existsSync(source)) process.exit(0);

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
