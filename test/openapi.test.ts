import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import t from 'tap';
import { generateOpenApiDocument, serializeOpenApiDocument } from '../src/openapi-document.ts';
import { buildTestApp } from './helpers/test-app.ts';

const run = promisify(execFile);
const committedPath = new URL('../openapi/openapi.json', import.meta.url);

interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
  requestBody?: { content?: Record<string, unknown> };
}

t.test('the committed openapi/openapi.json is what the code generates (run `npm run openapi`)', async (t) => {
  const committed = await readFile(committedPath, 'utf8');
  const generated = serializeOpenApiDocument(await generateOpenApiDocument());
  t.equal(generated, committed, 'no drift between the routes and the committed document');
});

t.test('/openapi.json serves the same document', async (t) => {
  const { inject } = await buildTestApp(t);
  const served = await inject({ method: 'GET', url: '/openapi.json' });
  t.equal(served.statusCode, 200);
  t.same(served.json(), JSON.parse(await readFile(committedPath, 'utf8')));
});

t.test('every operation is documented: id, summary, description, tags, errors as problem+json', async (t) => {
  const document = JSON.parse(await readFile(committedPath, 'utf8')) as {
    openapi: string;
    paths: Record<string, Record<string, Operation>>;
  };
  t.equal(document.openapi, '3.1.0');
  const operations = Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({
      name: `${method.toUpperCase()} ${path}`,
      operation,
    })),
  );
  t.ok(operations.length >= 11, `${operations.length} operations`);
  const ids = new Set<string>();
  for (const { name, operation } of operations) {
    t.ok(operation.operationId, `${name}: operationId`);
    t.notOk(ids.has(operation.operationId ?? ''), `${name}: operationId is unique`);
    ids.add(operation.operationId ?? '');
    t.ok(operation.summary && operation.description, `${name}: summary and description`);
    t.ok(operation.tags?.length, `${name}: tags`);
    const responses = operation.responses ?? {};
    t.ok(
      Object.keys(responses).some((status) => status.startsWith('2')),
      `${name}: a success response`,
    );
    t.ok(responses['500'], `${name}: documents 500`);
    // Any route is rate-limited and answers 503 when the database is out of reach; the health checks say
    // what is down in their own 503, and are never limited.
    if (!operation.tags?.includes('health'))
      t.ok(responses['429'] && responses['503'], `${name}: documents 429 and 503`);
    for (const [status, response] of Object.entries(responses)) {
      t.ok(
        response.description && response.description !== 'Default Response',
        `${name} ${status}: the response is described`,
      );
      if (Number(status) >= 400) {
        t.ok(response.content?.['application/problem+json'], `${name} ${status}: problem+json`);
      }
    }
    if (operation.requestBody) {
      t.ok(responses['400'] && responses['415'] && responses['413'], `${name}: documents 400, 413, 415`);
    }
  }
  const docText = JSON.stringify(document);
  t.match(docText, /"examples?"/, 'schemas carry examples');
  const schemas = (
    document as unknown as { components: { schemas: Record<string, { examples?: unknown[] }> } }
  ).components.schemas;
  for (const name of ['RecommendationPage', 'Item', 'Problem', 'EventWriteInput'])
    t.ok(schemas[name]?.examples?.length, `${name} has an example`);
});

t.test('the document lints clean with Redocly (recommended rules)', async (t) => {
  const redocly = new URL('../node_modules/.bin/redocly', import.meta.url).pathname;
  const { stdout, stderr } = await run(redocly, ['lint', committedPath.pathname, '--format=stylish'], {
    cwd: new URL('..', import.meta.url).pathname,
  }).catch((error: { stdout: string; stderr: string }) => {
    t.fail(`redocly lint failed:\n${error.stdout}\n${error.stderr}`);
    return error;
  });
  t.match(`${stdout}${stderr}`, /valid/i, 'redocly says the description is valid');
  t.notMatch(`${stdout}${stderr}`, /\d+ errors?/, 'zero errors');
});
