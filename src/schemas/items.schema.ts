import { z } from 'zod';
import {
  cursorSchema,
  idSchema,
  jsonObjectPatchSchema,
  jsonObjectSchema,
  limitSchema,
  nextCursorSchema,
  nonBlankTextSchema,
  textProblem,
  textSchema,
  timestampSchema,
} from './common.schema.ts';

export const ITEM_LIST_MAX_LIMIT = 500;

const httpUrl = z
  .url({ protocol: /^https?$/, message: 'must be an http or https URL' })
  .max(2048)
  .superRefine((value, context) => {
    const problem = textProblem(value);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  })
  .describe('An http(s) URL.');

/** Unique values in their first order: a genre or tag given twice means nothing more. */
const uniqueList = (element: z.ZodType<string>, max: number, what: string) =>
  z
    .array(element)
    .max(max, { message: `at most ${max} ${what}` })
    .transform((values) => [...new Set(values)]);

export const itemTypeSchema = textSchema()
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, {
    message: 'must be a lower-case word (a-z, 0-9, _ or -), 1 to 32 characters',
  })
  .describe('movie, series, episode, music, podcast, article, live, or any lower-case word.');

const releaseDateSchema = textSchema()
  .regex(/^\d{4}(-\d{2}(-\d{2})?)?$/, {
    message: 'must be a year (2019), a month (2019-07) or a date (2019-07-04)',
  })
  .refine(isRealReleaseDate, { message: 'must be a real date between the years 1800 and 2200' })
  .describe('A year (2019), a month (2019-07) or a date (2019-07-04).');

const creditSchema = z.strictObject({
  name: nonBlankTextSchema(200).describe('Person or group name.'),
  role: nonBlankTextSchema(64).describe('actor, director, writer, host, artist...'),
});

/** Fields a client may set on an item, shared by PUT (full replace) and PATCH (merge). */
const itemFields = {
  type: itemTypeSchema,
  title: nonBlankTextSchema(500).describe('Display title.'),
  description: textSchema().trim().max(10_000).describe('Synopsis or summary, plain text.'),
  genres: uniqueList(nonBlankTextSchema(64), 50, 'genres').describe('Genres, for filtering and similarity.'),
  tags: uniqueList(nonBlankTextSchema(64), 100, 'tags').describe('Free labels: moods, themes, keywords.'),
  credits: z.array(creditSchema).max(200, { message: 'at most 200 credits' }).describe('Cast and crew.'),
  language: textSchema()
    .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/, {
      message: 'must be a BCP 47 language tag such as en or pt-BR',
    })
    .describe('Original language as a BCP 47 tag (en, pt-BR).'),
  releaseDate: releaseDateSchema,
  durationSeconds: z
    .number()
    .int({ message: 'must be a whole number of seconds' })
    .min(0)
    .max(31_536_000)
    .describe('Running time in seconds.'),
  maturityRating: nonBlankTextSchema(32).describe('Maturity or age rating as published (PG-13, TV-MA, 16).'),
  regions: uniqueList(nonBlankTextSchema(64), 300, 'regions').describe(
    'Where the item may be shown: ISO 3166-1 alpha-2 codes are recommended (US, FR).',
  ),
  availableFrom: timestampSchema.describe('Not served before this instant.'),
  availableUntil: timestampSchema.describe('Not served after this instant.'),
  imageUrl: httpUrl.describe('Artwork URL.'),
  url: httpUrl.describe('Where the item can be watched, listened to or read.'),
  seriesId: idSchema.describe('The series an episode belongs to.'),
  attributes: jsonObjectSchema().describe('Free JSON object for your own fields (at most 16 KB).'),
};

const itemExample = {
  type: 'movie',
  title: 'The Martian',
  description: 'An astronaut stranded on Mars must survive with what he has until rescue can arrive.',
  genres: ['science fiction', 'drama'],
  tags: ['space', 'survival'],
  credits: [
    { name: 'Matt Damon', role: 'actor' },
    { name: 'Ridley Scott', role: 'director' },
  ],
  language: 'en',
  releaseDate: '2015-10-02',
  durationSeconds: 8460,
  maturityRating: 'PG-13',
  regions: ['US', 'GB'],
  imageUrl: 'https://images.example.com/the-martian.jpg',
  attributes: { studio: 'Fox' },
};

export const itemInputSchema = z
  .strictObject({
    id: idSchema.optional().describe('Optional; when given it must equal the id in the path.'),
    type: itemFields.type.default('item'),
    title: itemFields.title,
    description: itemFields.description.optional(),
    genres: itemFields.genres.default([]),
    tags: itemFields.tags.default([]),
    credits: itemFields.credits.default([]),
    language: itemFields.language.optional(),
    releaseDate: itemFields.releaseDate.optional(),
    durationSeconds: itemFields.durationSeconds.optional(),
    maturityRating: itemFields.maturityRating.optional(),
    regions: itemFields.regions.default([]),
    availableFrom: itemFields.availableFrom.optional(),
    availableUntil: itemFields.availableUntil.optional(),
    imageUrl: itemFields.imageUrl.optional(),
    url: itemFields.url.optional(),
    seriesId: itemFields.seriesId.optional(),
    attributes: itemFields.attributes.default({}),
  })
  .superRefine(checkAvailabilityWindow)
  .meta({
    id: 'ItemWrite',
    description: 'An item of the catalog as a client sends it. Only `title` is required.',
    examples: [itemExample],
  });

export type ItemInput = z.output<typeof itemInputSchema>;

/**
 * A JSON merge patch (RFC 7396) of an item: fields present replace the stored ones, `null` clears an
 * optional field, and `attributes` merges key by key (a `null` value removes that key).
 */
export const itemPatchSchema = z
  .strictObject({
    type: itemFields.type.optional(),
    title: itemFields.title.optional(),
    description: itemFields.description.nullable().optional(),
    genres: itemFields.genres.nullable().optional(),
    tags: itemFields.tags.nullable().optional(),
    credits: itemFields.credits.nullable().optional(),
    language: itemFields.language.nullable().optional(),
    releaseDate: itemFields.releaseDate.nullable().optional(),
    durationSeconds: itemFields.durationSeconds.nullable().optional(),
    maturityRating: itemFields.maturityRating.nullable().optional(),
    regions: itemFields.regions.nullable().optional(),
    availableFrom: itemFields.availableFrom.nullable().optional(),
    availableUntil: itemFields.availableUntil.nullable().optional(),
    imageUrl: itemFields.imageUrl.nullable().optional(),
    url: itemFields.url.nullable().optional(),
    seriesId: itemFields.seriesId.nullable().optional(),
    attributes: jsonObjectPatchSchema()
      .nullable()
      .optional()
      .describe('Merged key by key into the stored attributes; a null value removes that key.'),
  })
  .meta({
    id: 'ItemPatch',
    description:
      'A JSON merge patch (RFC 7396) of an item. Send as application/merge-patch+json or application/json.',
    examples: [{ tags: ['space', 'survival', 'botany'], maturityRating: null, attributes: { studio: null } }],
  });

export type ItemPatch = z.output<typeof itemPatchSchema>;

export const itemSchema = z
  .object({
    id: idSchema,
    type: z.string(),
    title: z.string(),
    description: z.string().optional(),
    genres: z.array(z.string()),
    tags: z.array(z.string()),
    credits: z.array(z.object({ name: z.string(), role: z.string() })),
    language: z.string().optional(),
    releaseDate: z.string().optional(),
    durationSeconds: z.number().int().optional(),
    maturityRating: z.string().optional(),
    regions: z.array(z.string()),
    availableFrom: z.string().optional(),
    availableUntil: z.string().optional(),
    imageUrl: z.string().optional(),
    url: z.string().optional(),
    seriesId: z.string().optional(),
    attributes: z.record(z.string(), z.unknown()),
    createdAt: z.string().describe('When the item was first stored.'),
    updatedAt: z.string().describe('When the item last changed.'),
  })
  .meta({
    id: 'Item',
    description: 'An item of the catalog as stored. Optional fields that were never set are absent.',
    examples: [
      {
        id: 'movie-42',
        ...itemExample,
        createdAt: '2026-11-01T12:00:00.000Z',
        updatedAt: '2026-11-01T12:00:00.000Z',
      },
    ],
  });

export type Item = z.infer<typeof itemSchema>;

export const itemListQuerySchema = z.strictObject({
  limit: limitSchema(50, ITEM_LIST_MAX_LIMIT),
  cursor: cursorSchema.optional(),
  type: itemTypeSchema.optional().describe('Only items of this type.'),
  genre: textSchema().min(1).max(64).optional().describe('Only items with this genre (exact match).'),
  updatedSince: timestampSchema.optional().describe('Only items changed at or after this instant.'),
});

export const itemListSchema = z
  .object({ items: z.array(itemSchema), nextCursor: nextCursorSchema })
  .meta({ id: 'ItemList', description: 'A page of items in id order.' });

function isRealReleaseDate(value: string): boolean {
  const [year, month = 1, day = 1] = value.split('-').map(Number) as [number, number?, number?];
  if (year < 1800 || year > 2200) return false;
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

export function checkAvailabilityWindow(
  item: { availableFrom?: string | undefined; availableUntil?: string | undefined },
  context: z.RefinementCtx,
) {
  if (
    item.availableFrom &&
    item.availableUntil &&
    Date.parse(item.availableFrom) >= Date.parse(item.availableUntil)
  ) {
    context.addIssue({ code: 'custom', path: ['availableUntil'], message: 'must be after availableFrom' });
  }
}
