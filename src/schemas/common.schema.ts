import { z } from 'zod';

export const ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;
const ID_RULE = '1 to 128 characters from A-Z a-z 0-9 . _ : @ -';

/** A client-chosen identifier (items, users, events, series). */
export const idSchema = z.string().regex(ID_PATTERN, { message: `must be ${ID_RULE}` });

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
export const cursorSchema = z
  .string()
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

/** A free-form JSON object of bounded size (item and user attributes, event context). */
export const jsonObjectSchema = (maxBytes = MAX_JSON_OBJECT_BYTES) =>
  z.record(z.string().max(128), z.unknown()).refine((value) => JSON.stringify(value).length <= maxBytes, {
    message: `must be at most ${maxBytes} bytes of JSON`,
  });
