import { z } from 'zod';
import {
  cursorSchema,
  idSchema,
  jsonObjectSchema,
  limitSchema,
  nextCursorSchema,
  textSchema,
  timestampSchema,
} from './common.schema.ts';
import { EVENT_TYPES } from '../event-types.ts';

export { EVENT_TYPES, type EventType } from '../event-types.ts';

export const EVENTS_PER_REQUEST = 1_000;
export const EVENT_LIST_MAX_LIMIT = 200;
// A timestamp this far ahead of the server clock is a client bug, not clock skew.
export const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

const eventExample = {
  id: 'evt-0001',
  userId: 'user-7',
  itemId: 'movie-42',
  type: 'rate',
  value: 4.5,
  timestamp: '2026-11-20T21:03:00Z',
  recommendationId: 'rec-5f1c',
  context: { device: 'tv', row: 'top-picks' },
};

export const eventInputSchema = z
  .strictObject({
    id: idSchema
      .optional()
      .describe(
        'Your id for the event. An event whose id was seen before is counted as a duplicate and changes nothing. ' +
          'Without one, the same user, item, type and timestamp count as a duplicate.',
      ),
    userId: idSchema.describe('Who did it; an unknown user is created.'),
    itemId: idSchema.describe('What it was done to; must be an item of the catalog.'),
    type: z.enum(EVENT_TYPES, { message: `must be one of ${EVENT_TYPES.join(', ')}` }),
    value: z
      .number({ message: 'must be a number' })
      .optional()
      .describe(
        'The rating (0 to 5) for `rate`, the fraction watched (0 to 1) for `progress`; absent otherwise.',
      ),
    timestamp: timestampSchema
      .optional()
      .describe('When it happened; defaults to now. Past times are normal.'),
    recommendationId: textSchema()
      .min(1)
      .max(128)
      .optional()
      .describe('The recommendationId of the page the user acted from, for attribution.'),
    context: jsonObjectSchema(4_096)
      .optional()
      .describe('Free JSON object (device, row, position), at most 4 KB.'),
  })
  .superRefine((event, context) => {
    if (event.type === 'rate' && (event.value === undefined || event.value < 0 || event.value > 5)) {
      context.addIssue({
        code: 'custom',
        path: ['value'],
        message: 'a rate event needs a value from 0 to 5',
      });
    } else if (
      event.type === 'progress' &&
      (event.value === undefined || event.value < 0 || event.value > 1)
    ) {
      context.addIssue({
        code: 'custom',
        path: ['value'],
        message: 'a progress event needs a value from 0 to 1',
      });
    } else if (event.type !== 'rate' && event.type !== 'progress' && event.value !== undefined) {
      context.addIssue({
        code: 'custom',
        path: ['value'],
        message: `is only used with rate and progress events`,
      });
    }
    if (event.timestamp && Date.parse(event.timestamp) > Date.now() + MAX_FUTURE_SKEW_MS) {
      context.addIssue({ code: 'custom', path: ['timestamp'], message: 'must not be in the future' });
    }
    if (event.timestamp && Date.parse(event.timestamp) < Date.UTC(1970, 0, 1)) {
      context.addIssue({ code: 'custom', path: ['timestamp'], message: 'must not be before 1970' });
    }
  })
  .meta({
    id: 'EventWrite',
    description: 'One interaction of a user with an item.',
    examples: [eventExample],
  });

export type EventInput = z.output<typeof eventInputSchema>;

export const eventBatchSchema = z
  .strictObject({
    events: z
      .array(eventInputSchema)
      .min(1)
      .max(EVENTS_PER_REQUEST)
      .describe(
        `1 to ${EVENTS_PER_REQUEST} events. Each is checked on its own: a bad one never drops the others.`,
      ),
  })
  .meta({ id: 'EventBatch', examples: [{ events: [eventExample] }] });

/**
 * What the route really validates up front: the envelope only. Each event is then validated on its own with
 * eventInputSchema, so that one bad event is reported without rejecting the rest.
 */
export const eventBatchEnvelopeSchema = z.strictObject({
  events: z
    .array(z.unknown())
    .min(1, { message: 'must hold at least 1 event' })
    .max(EVENTS_PER_REQUEST, { message: `must hold at most ${EVENTS_PER_REQUEST} events` }),
});

export const eventBatchResultSchema = z
  .object({
    accepted: z.number().int().describe('Events stored by this call.'),
    duplicates: z
      .number()
      .int()
      .describe('Valid events already stored (same id, or same user, item, type, time).'),
    rejected: z
      .array(
        z.object({
          index: z.number().int().describe('Position of the event in the request.'),
          problem: z.string().describe('What is wrong with it, naming the field.'),
        }),
      )
      .describe('Events not stored, with the reason.'),
  })
  .meta({
    id: 'EventBatchResult',
    examples: [
      { accepted: 1, duplicates: 0, rejected: [{ index: 1, problem: 'itemId: unknown item "movie-999"' }] },
    ],
  });

export type EventBatchResult = z.infer<typeof eventBatchResultSchema>;

export const eventSchema = z
  .object({
    id: z.string().optional().describe('Your id for the event, when you gave one.'),
    userId: z.string(),
    itemId: z.string(),
    type: z.enum(EVENT_TYPES),
    value: z.number().optional(),
    timestamp: z.string(),
    recommendationId: z.string().optional(),
    context: z.record(z.string(), z.unknown()).optional(),
    receivedAt: z.string().describe('When Marquee stored it.'),
  })
  .meta({ id: 'Event', description: 'A stored event.' });

export const eventListQuerySchema = z.strictObject({
  limit: limitSchema(50, EVENT_LIST_MAX_LIMIT),
  cursor: cursorSchema.optional(),
});

export const eventListSchema = z
  .object({ events: z.array(eventSchema), nextCursor: nextCursorSchema })
  .meta({ id: 'EventList', description: "A page of a user's events, newest first." });
