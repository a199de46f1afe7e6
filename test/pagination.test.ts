import fc from 'fast-check';
import t from 'tap';
import { z } from 'zod';
import { ValidationError } from '../src/errors.ts';
import { decodeCursor, encodeCursor } from '../src/pagination.ts';

t.test('a cursor round-trips what it encodes', async (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 128 }), (afterId) => {
      const decoded = decodeCursor(encodeCursor({ afterId }), { afterId: z.string() });
      return decoded.afterId === afterId;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

t.test('any other string is a ValidationError naming query.cursor, never another exception', async (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.base64String(),
        fc.json().map((text) => Buffer.from(text).toString('base64url')),
      ),
      (cursor) => {
        try {
          decodeCursor(cursor, { afterId: z.string() });
          return true; // it happened to be a valid cursor
        } catch (error) {
          return error instanceof ValidationError && error.errors[0]?.path === 'query.cursor';
        }
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});
