import fc from 'fast-check';
import t from 'tap';
import { ID_PATTERN } from '../../src/schemas/common.schema.ts';
import { buildTestApp, json } from '../helpers/test-app.ts';

t.test('any path id: a valid one round-trips, any other gets a 4xx problem; never a 5xx', async (t) => {
  const { inject } = await buildTestApp(t);
  const candidate = fc.oneof(
    fc.stringMatching(/^[A-Za-z0-9._:@-]{1,128}$/),
    fc.string({ minLength: 1, maxLength: 200 }),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
  );
  await fc.assert(
    fc.asyncProperty(candidate, async (id) => {
      const url = `/v1/items/${encodeURIComponent(id)}`;
      const response = await inject({ method: 'PUT', url, ...json({ title: 'x' }) });
      if (ID_PATTERN.test(id) && id !== '.' && id !== '..') {
        if (response.statusCode !== 201 && response.statusCode !== 200) return false;
        const fetched = await inject({ method: 'GET', url });
        return fetched.json().id === id;
      }
      return (
        response.statusCode >= 400 &&
        response.statusCode < 500 &&
        String(response.headers['content-type']).startsWith('application/problem+json')
      );
    }),
    { numRuns: 200 },
  );
  t.pass('200 generated ids');
});
