// Writes openapi/openapi.json from the route schemas (npm run openapi). A test fails when the committed file
// differs from what the code generates.
import { mkdir, writeFile } from 'node:fs/promises';
import { generateOpenApiDocument, serializeOpenApiDocument } from '../src/openapi-document.ts';

const target = new URL('../openapi/openapi.json', import.meta.url);
await mkdir(new URL('.', target), { recursive: true });
await writeFile(target, serializeOpenApiDocument(await generateOpenApiDocument()));
console.log(`wrote ${target.pathname}`);
