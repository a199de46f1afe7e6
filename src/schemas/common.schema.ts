import { z } from 'zod';

/**
 * Why a string is not text that can be stored and shown, or undefined when it is: a NUL character (Postgres
 * stores none in text or jsonb) or an unpaired UTF-16 surrogate (not Unicode; it cannot be encoded as UTF-8).
 */
export function textProblem(value: string): string | undefined {
  if (value.includes('\u0000')) return 'contains a NUL character (\\u0000), which cannot be stored';
  if (!value.isWellFormed()) return 'is not valid Unicode (it holds a lone surrogate)';
  return undefined;
}

/** Every string a client sends (body, query or path) starts from this: text that can be stored and shown. */
export const textSchema = () =>
  z.string().superRefine((value, context) => {
    const problem = textProblem(value);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  });

/**
 * Text that must say something: not blank (the schema's pattern says so), trimmed, at most `max` characters.
 */
export const nonBlankTextSchema = (max: number) =>
  textSchema()
    .regex(/\S/, { message: 'must not be blank' })
    .trim()
    .max(max, { message: `must be at most ${max} characters` });

export const ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;
const ID_RULE = '1 to 128 characters from A-Z a-z 0-9 . _ : @ -';

/** A client-chosen identifier (items, users, events, series). */
export const idSchema = textSchema().regex(ID_PATTERN, { message: `must be ${ID_RULE}` });

export const itemIdParamsSchema = z.strictObject({
  itemId: idSchema.describe(`The item's id: ${ID_RULE}.`).meta({ examples: ['movie-42'] }),
});
export const userIdParamsSchema = z.strictObject({
  userId: idSchema.describe(`The user's id: ${ID_RULE}.`).meta({ examples: ['user-7'] }),
});

/** `limit` query parameter: a whole number in [1, max], with a default. */
export const limitSchema = (defaultLimit: number, max: number) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(1, { message: 'must be at least 1' })
    .max(max, { message: `must be at most ${max}` })
    .default(defaultLimit)
    .describe(`How many results per page, 1 to ${max} (default ${defaultLimit}).`);

/** An opaque pagination cursor as handed out in `nextCursor`. */
export const cursorSchema = textSchema()
  .min(1)
  .max(512, { message: 'is not a cursor this API handed out' })
  .describe('The `nextCursor` of the previous page; omit for the first page.');

export const nextCursorSchema = z
  .string()
  .nullable()
  .describe('Pass as `cursor` to get the next page; null on the last page.');

export const timestampSchema = z.iso
  .datetime({
    offset: true,
    message: 'must be an ISO 8601 date-time with a time zone, like 2026-01-31T20:00:00Z',
  })
  .describe('ISO 8601 date-time with a time zone.');

const MAX_JSON_OBJECT_BYTES = 16_384;
/** Objects and arrays nested deeper than this in a free-form object are refused (recursion stays bounded). */
export const MAX_JSON_DEPTH = 16;
/** The one key JSON may hold that an ordinary `target[key] = value` would not write as data. */
const PROTOTYPE_KEY = '__proto__';

/**
 * The first problem of a free-form JSON value, with its path: a string or key that is not storable text, a
 * `__proto__` key, or nesting past MAX_JSON_DEPTH. Undefined when there is none.
 */
export function findJsonValueProblem(
  value: unknown,
  path: (string | number)[] = [],
): { path: (string | number)[]; message: string } | undefined {
  if (path.length > MAX_JSON_DEPTH)
    return { path, message: `is nested more than ${MAX_JSON_DEPTH} levels deep` };
  if (typeof value === 'string') {
    const problem = textProblem(value);
    return problem === undefined ? undefined : { path, message: problem };
  }
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const problem = findJsonValueProblem(value[index], [...path, index]);
      if (problem) return problem;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      if (key === PROTOTYPE_KEY) return { path: [...path, key], message: 'is a reserved name' };
      const keyProblem = textProblem(key);
      if (keyProblem) return { path: [...path, key], message: `the name ${keyProblem}` };
      const problem = findJsonValueProblem((value as Record<string, unknown>)[key], [...path, key]);
      if (problem) return problem;
    }
  }
  return undefined;
}

/**
 * A merge patch of a free-form JSON object (PATCH of an item, an upsert-mode import): the keys it holds
 * replace the stored ones, a null removes one. The same text, key and depth rules as jsonObjectSchema.
 */
export const jsonObjectPatchSchema = () =>
  z.record(textSchema().max(128), z.unknown()).superRefine((value, context) => {
    const problem = findJsonValueProblem(value);
    if (problem) context.addIssue({ code: 'custom', path: problem.path, message: problem.message });
  });

/**
 * A free-form JSON object of bounded size (item and user attributes, event context): keys of at most 128
 * characters, storable text everywhere, no `__proto__` key at any depth (zod drops one at the top), bounded nesting.
 */
export const jsonObjectSchema = (maxBytes = MAX_JSON_OBJECT_BYTES) =>
  z
    .record(textSchema().max(128), z.unknown())
    .superRefine((value, context) => {
      const problem = findJsonValueProblem(value);
      if (problem) context.addIssue({ code: 'custom', path: problem.path, message: problem.message });
    })
    .refine((value) => JSON.stringify(value).length <= maxBytes, {
      message: `must be at most ${maxBytes} bytes of JSON`,
    });
