import { z } from 'zod';
import { PROBLEM_TYPE_PREFIX } from '../errors.ts';

export const problemSchema = z
  .object({
    type: z
      .string()
      .describe(`A stable URI for the kind of problem, such as ${PROBLEM_TYPE_PREFIX}validation.`),
    title: z.string().describe('A short summary of the kind of problem.'),
    status: z.number().int().describe('The HTTP status code.'),
    detail: z.string().describe('What went wrong with this request, in words.'),
    instance: z.string().optional().describe('The request path.'),
    requestId: z
      .string()
      .optional()
      .describe('The request id, also in the x-request-id header and the logs.'),
    errors: z
      .array(
        z.object({
          path: z.string().describe('The field: body.title, query.limit, params.itemId...'),
          message: z.string(),
        }),
      )
      .optional()
      .describe('For validation problems: each bad field.'),
  })
  .meta({
    id: 'Problem',
    description:
      'An RFC 9457 problem details object, sent as application/problem+json for every 4xx and 5xx.',
    examples: [
      {
        type: `${PROBLEM_TYPE_PREFIX}validation`,
        title: 'The request is not valid',
        status: 400,
        detail: 'body.title: Required',
        instance: '/v1/items/movie-42',
        requestId: 'req-1',
        errors: [{ path: 'body.title', message: 'Required' }],
      },
    ],
  });

export type Problem = z.infer<typeof problemSchema>;

const STATUS_DESCRIPTIONS: Record<number, string> = {
  400: 'The request is not valid: a field, query parameter, cursor or JSON body is wrong.',
  401: 'No credentials, or credentials that are not valid: send Authorization: Bearer <API key or user token>.',
  403: 'The credentials do not allow this operation (scope, or another user).',
  404: 'Not found.',
  409: 'Conflict with the current state.',
  413: 'The request body is too large.',
  415: 'The content type is not supported: send application/json.',
  500: 'Unexpected server error.',
  503: 'A dependency is unavailable; retry after the Retry-After delay.',
};

/** Response schemas for the error statuses an operation can answer, for its OpenAPI description. */
export function problemResponses<const S extends readonly (keyof typeof STATUS_DESCRIPTIONS)[]>(
  ...statuses: S
): Record<S[number], typeof problemSchema> {
  const responses = {} as Record<S[number], typeof problemSchema>;
  for (const status of [...statuses, 500] as S[number][]) {
    responses[status] = problemSchema.describe(STATUS_DESCRIPTIONS[status] ?? 'Error.');
  }
  return responses;
}
