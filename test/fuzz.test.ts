import fc from 'fast-check';
import t from 'tap';
import { buildTestApp } from './helpers/test-app.ts';

// Property-based fuzzing of every documented operation with valid credentials: random and malformed path
// parameters, query strings and bodies never get a 5xx, every 4xx is problem+json, and the server stays up.
const RUNS_PER_OPERATION = 200;

interface Operation {
  parameters?: { name: string; in: string }[];
  requestBody?: unknown;
}

const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', ' ', '-1', '0', '1e309', 'null', 'true', '%', '..', 'mq_00000000', 'a'.repeat(300)),
);
const pathValue = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._:@-]{1,20}$/),
  text.filter((value) => value.length > 0),
);
const jsonBody = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.dictionary(
    fc.constantFrom(
      'title',
      'type',
      'genres',
      'events',
      'attributes',
      'userId',
      'name',
      'scopes',
      'value',
      'x',
    ),
    fc.jsonValue({ maxDepth: 3 }),
  ),
  fc.record({
    events: fc.array(
      fc.dictionary(
        fc.constantFrom('userId', 'itemId', 'type', 'value', 'timestamp', 'id', 'context'),
        fc.jsonValue({ maxDepth: 2 }),
      ),
      { maxLength: 5 },
    ),
  }),
);
const body = fc.oneof(
  jsonBody.map((value) => ({ payload: JSON.stringify(value), contentType: 'application/json' })),
  text.map((value) => ({ payload: value, contentType: 'application/json' })),
  text.map((value) => ({ payload: value, contentType: 'text/plain' })),
  fc.constant({ payload: undefined, contentType: undefined }),
);

t.test(
  `${RUNS_PER_OPERATION} random requests per operation: never a 5xx, every 4xx is a problem`,
  async (t) => {
    const { app, inject } = await buildTestApp(t, { env: { MARQUEE_RATE_LIMIT_ADMIN: '10000000' } });
    await inject({
      method: 'PUT',
      url: '/v1/items/m1',
      headers: { 'content-type': 'application/json' },
      payload: '{"title":"Alien"}',
    });
    const document = app.swagger() as unknown as { paths: Record<string, Record<string, Operation>> };
    let operations = 0;
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        operations++;
        const queryNames = (operation.parameters ?? [])
          .filter((parameter) => parameter.in === 'query')
          .map((parameter) => parameter.name);
        const query = fc.dictionary(
          fc.oneof(fc.constantFrom(...queryNames, 'unknown'), fc.string({ maxLength: 8 })),
          text,
          { maxKeys: 4 },
        );
        const failures: string[] = [];
        await fc
          .assert(
            fc.asyncProperty(pathValue, query, body, async (value, queryValues, requestBody) => {
              const search = new URLSearchParams(queryValues).toString();
              const url = `${path.replace(/\{\w+\}/g, encodeURIComponent(value))}${search ? `?${search}` : ''}`;
              const response = await inject({
                method: method.toUpperCase(),
                url,
                ...(operation.requestBody && requestBody.payload !== undefined
                  ? {
                      payload: requestBody.payload,
                      headers: { 'content-type': requestBody.contentType ?? 'application/json' },
                    }
                  : {}),
              });
              const ok =
                response.statusCode < 500 &&
                (response.statusCode < 400 ||
                  String(response.headers['content-type']).startsWith('application/problem+json'));
              if (!ok)
                failures.push(
                  `${method.toUpperCase()} ${url} -> ${response.statusCode} ${response.body.slice(0, 200)}`,
                );
              return ok;
            }),
            { numRuns: RUNS_PER_OPERATION },
          )
          .catch((error: Error) => {
            t.fail(
              `${method.toUpperCase()} ${path}: ${error.message.split('\n')[0]}\n${failures.slice(0, 3).join('\n')}`,
            );
          });
        t.pass(`${method.toUpperCase()} ${path}: ${RUNS_PER_OPERATION} cases`);
      }
    }
    t.ok(operations >= 15, `${operations} operations fuzzed`);
    t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'the server is still up');
  },
);
