import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import fp from 'fastify-plugin';
import {
  type FieldProblem,
  HttpProblem,
  NotFoundError,
  PROBLEM_TYPE_PREFIX,
  asBusyError,
  ServiceUnavailableError,
  TooManyRequestsError,
  UnauthorizedError,
  ValidationError,
} from '../errors.ts';
import type { Problem } from '../schemas/problem.schema.ts';

const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';
const BUSY_TYPE = `${PROBLEM_TYPE_PREFIX}busy`;

// Error codes that mean the database cannot be reached right now (as opposed to a bad query):
// connection refused/reset, Postgres shutting down or starting (57P01, 57P03), connection exceptions (08xxx).
const DATABASE_UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01',
  '57P03',
]);
const DATABASE_UNAVAILABLE_MESSAGES = [
  'timeout exceeded when trying to connect',
  'Connection terminated',
  'embedded database worker exited',
  'embedded database is closed',
  'Client has encountered a connection error',
  // Kysely after the pool was closed: a request that arrives while the process shuts down.
  'driver has already been destroyed',
];

/** Statuses Fastify itself raises (body parsing, content types) and the problem kind each one maps to. */
const FASTIFY_STATUS_PROBLEMS: Record<number, { slug: string; title: string }> = {
  400: { slug: 'bad-request', title: 'The request is not valid' },
  404: { slug: 'not-found', title: 'Not found' },
  405: { slug: 'method-not-allowed', title: 'Method not allowed' },
  406: { slug: 'not-acceptable', title: 'Not acceptable' },
  408: { slug: 'timeout', title: 'Request timeout' },
  413: { slug: 'payload-too-large', title: 'The request body is too large' },
  414: { slug: 'uri-too-long', title: 'The request URI is too long' },
  415: { slug: 'unsupported-media-type', title: 'Unsupported content type' },
  429: { slug: 'rate-limited', title: 'Too many requests' },
  431: { slug: 'headers-too-large', title: 'Request headers too large' },
};

/**
 * The one place errors become answers: RFC 9457 problem+json for every 4xx and 5xx. Messages of unexpected
 * errors are logged with the request id and never sent to the client.
 */
export const errorHandlerPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const { body: problem, retryAfterSeconds } = toProblem(error, request);
      if (problem.status >= 500 && problem.type !== BUSY_TYPE) {
        request.log.error({ err: error }, 'request failed');
      } else {
        request.log.info({ status: problem.status, problem: problem.detail }, 'request rejected');
      }
      if (error instanceof UnauthorizedError) reply.header('www-authenticate', 'Bearer realm="marquee"');
      if (retryAfterSeconds !== undefined) reply.header('retry-after', String(retryAfterSeconds));
      return sendProblem(reply, problem);
    });

    // Answers that a plugin wrote itself (@fastify/sse's 406, say) still reach the client as problems.
    // (An answer the route declares itself, as /readyz's 503 with its checks, is left as it is.)
    app.addHook('onSend', async (request, reply, payload) => {
      if (reply.statusCode < 400 || isProblemContentType(reply.getHeader('content-type'))) return payload;
      const declared = request.routeOptions.schema?.response as object | undefined;
      if (declared && Object.hasOwn(declared, String(reply.statusCode))) return payload;
      const known = FASTIFY_STATUS_PROBLEMS[reply.statusCode];
      reply.type(PROBLEM_CONTENT_TYPE);
      return JSON.stringify({
        type: PROBLEM_TYPE_PREFIX + (known?.slug ?? (reply.statusCode >= 500 ? 'internal' : 'client-error')),
        title: known?.title ?? STATUS_CODES[reply.statusCode] ?? 'Error',
        status: reply.statusCode,
        detail: messageOf(payload) ?? STATUS_CODES[reply.statusCode] ?? 'Error',
        instance: request.url.split('?')[0],
        requestId: request.id,
      } satisfies Problem);
    });

    app.setNotFoundHandler((request, reply) =>
      sendProblem(
        reply,
        problemFrom(new NotFoundError(`No route ${request.method} ${request.url.split('?')[0]}`), request),
      ),
    );
  },
  { name: 'error-handler' },
);

/**
 * For Fastify's constructor option `frameworkErrors`: errors its router raises before any route or hook
 * runs (a malformed URL, a path parameter over maxParamLength), answered as problems too.
 */
export function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : (error.statusCode ?? 400);
  const known = FASTIFY_STATUS_PROBLEMS[status] ?? FASTIFY_STATUS_PROBLEMS[400];
  request.log.info({ status, code: error.code }, 'request rejected by the router');
  // The message repeats the whole URL, which can be huge: describe the problem instead.
  const detail =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? 'A path parameter is longer than this API accepts (ids are at most 128 characters).'
      : 'The request URL is malformed.';
  return sendProblem(reply, {
    type: PROBLEM_TYPE_PREFIX + (known?.slug ?? 'bad-request'),
    title: known?.title ?? 'Bad request',
    status,
    detail,
    requestId: request.id,
  });
}

/**
 * For Fastify's constructor option `clientErrorHandler`: what Node's HTTP parser refuses before there is a
 * request (headers too large, a malformed request line, a client too slow to send its headers), answered as a
 * problem on the raw socket, which is then closed.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket) {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const status =
    error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const known = FASTIFY_STATUS_PROBLEMS[status];
  const detail =
    status === 431
      ? 'The request headers are larger than this server accepts.'
      : status === 408
        ? 'The request headers did not arrive in time.'
        : 'The request is not valid HTTP.';
  const body = JSON.stringify({
    type: PROBLEM_TYPE_PREFIX + (known?.slug ?? 'bad-request'),
    title: known?.title ?? 'Bad request',
    status,
    detail,
  } satisfies Problem);
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  socket.destroy(error);
}

const isProblemContentType = (value: unknown) =>
  typeof value === 'string' && value.startsWith('application/problem+json');

/** The `message` of a JSON error body a plugin wrote, when it has one. */
function messageOf(payload: unknown): string | undefined {
  if (typeof payload !== 'string') return undefined;
  try {
    const message = (JSON.parse(payload) as { message?: unknown } | null)?.message;
    return typeof message === 'string' ? message : undefined;
  } catch {
    return undefined;
  }
}

function sendProblem(reply: FastifyReply, problem: Problem) {
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
}

/** The problem an error answers with, and the Retry-After it carries when retrying later can help. */
function toProblem(
  error: FastifyError,
  request: FastifyRequest,
): { body: Problem; retryAfterSeconds?: number | undefined } {
  const busy = asBusyError(error);
  if (busy) return { body: problemFrom(busy, request), retryAfterSeconds: busy.retryAfterSeconds };
  if (isDatabaseUnavailable(error)) {
    return {
      body: problemFrom(
        new ServiceUnavailableError('The database is unreachable right now; retry shortly.'),
        request,
      ),
      retryAfterSeconds: 5,
    };
  }
  const retryAfterSeconds =
    error instanceof TooManyRequestsError || error instanceof ServiceUnavailableError
      ? error.retryAfterSeconds
      : undefined;
  return { body: problemOf(error, request), retryAfterSeconds };
}

function problemOf(error: FastifyError, request: FastifyRequest): Problem {
  if (error instanceof HttpProblem) return problemFrom(error, request);

  if (error.validation) {
    const location = locationName(error.validationContext);
    const errors = error.validation.flatMap((issue): FieldProblem[] => {
      const path = joinPath(location, issue.instancePath);
      const unknownKeys = (issue.params as { keys?: unknown })?.keys;
      if (issue.keyword === 'unrecognized_keys' && Array.isArray(unknownKeys)) {
        return unknownKeys.map((key) => ({
          path: joinPath(path, `/${String(key)}`),
          message: 'unknown field',
        }));
      }
      return [{ path, message: issue.message ?? 'is not valid' }];
    });
    return problemFrom(new ValidationError(errors), request);
  }

  const status = typeof error.statusCode === 'number' ? error.statusCode : 500;
  const known = FASTIFY_STATUS_PROBLEMS[status];
  if (status >= 400 && status < 500) {
    return {
      type: PROBLEM_TYPE_PREFIX + (known?.slug ?? 'client-error'),
      title: known?.title ?? 'Client error',
      status,
      detail: clientErrorDetail(error),
      instance: request.url.split('?')[0],
      requestId: request.id,
    };
  }
  return {
    type: `${PROBLEM_TYPE_PREFIX}internal`,
    title: 'Internal server error',
    status: 500,
    detail: `Something went wrong on our side. Quote request id ${request.id} when reporting it.`,
    instance: request.url.split('?')[0],
    requestId: request.id,
  };
}

function problemFrom(error: HttpProblem, request: FastifyRequest): Problem {
  return {
    type: error.type,
    title: error.title,
    status: error.status,
    detail: error.message,
    instance: request.url.split('?')[0],
    requestId: request.id,
    ...(error instanceof ValidationError ? { errors: [...error.errors] } : {}),
  };
}

function clientErrorDetail(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'The request body is larger than this endpoint accepts.';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'Unsupported content type: send the body as application/json.';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'The body is empty but the content type says JSON: send a JSON document or no content type.';
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return `The body is not valid JSON: ${error.message}`;
    default:
      // Fastify's own 4xx messages describe the request (bad JSON, bad header), never server internals.
      return error instanceof SyntaxError ? `The body is not valid JSON: ${error.message}` : error.message;
  }
}

function locationName(context: string | undefined): string {
  if (context === 'querystring') return 'query';
  return context ?? 'request';
}

/** `body` + `/events/3/value` → `body.events[3].value`. */
function joinPath(base: string, instancePath: string): string {
  const segments = instancePath.split('/').filter((segment) => segment !== '');
  return segments.reduce(
    (path, segment) => (/^\d+$/.test(segment) ? `${path}[${segment}]` : `${path}.${segment}`),
    base,
  );
}

function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (DATABASE_UNAVAILABLE_CODES.has(code) || code.startsWith('08')))
    return true;
  return DATABASE_UNAVAILABLE_MESSAGES.some((message) => error.message.includes(message));
}
