// Typed errors that services and routes throw; src/plugins/error-handler.plugin.ts turns them into RFC 9457
// problem+json answers. Each problem kind has a stable `type` URI that clients can switch on.

export const PROBLEM_TYPE_PREFIX = 'urn:marquee:problem:';

export interface FieldProblem {
  /** Where the problem is: `body.title`, `query.limit`, `params.itemId`, `body.events[3].value`... */
  path: string;
  message: string;
}

export abstract class HttpProblem extends Error {
  abstract readonly status: number;
  abstract readonly slug: string;
  abstract readonly title: string;

  get type(): string {
    return PROBLEM_TYPE_PREFIX + this.slug;
  }
}

export class ValidationError extends HttpProblem {
  readonly status = 400;
  readonly slug = 'validation';
  readonly title = 'The request is not valid';
  readonly errors: readonly FieldProblem[];

  constructor(errors: readonly FieldProblem[], detail?: string) {
    super(detail ?? errors.map((error) => `${error.path}: ${error.message}`).join('; '));
    this.errors = errors;
  }
}

export class NotFoundError extends HttpProblem {
  readonly status = 404;
  readonly slug = 'not-found';
  readonly title = 'Not found';
}

export class UnauthorizedError extends HttpProblem {
  readonly status = 401;
  readonly slug = 'unauthorized';
  readonly title = 'Authentication required';
}

export class ForbiddenError extends HttpProblem {
  readonly status = 403;
  readonly slug = 'forbidden';
  readonly title = 'Not allowed';
}

export class ConflictError extends HttpProblem {
  readonly status = 409;
  readonly slug = 'conflict';
  readonly title = 'Conflict';
}

export class TooManyRequestsError extends HttpProblem {
  readonly status = 429;
  readonly slug = 'rate-limited';
  readonly title = 'Too many requests';
  readonly retryAfterSeconds: number;

  constructor(detail: string, retryAfterSeconds: number) {
    super(detail);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class ServiceUnavailableError extends HttpProblem {
  readonly status = 503;
  readonly slug = 'unavailable';
  readonly title = 'Service unavailable';
  readonly retryAfterSeconds: number;

  constructor(detail: string, retryAfterSeconds = 5) {
    super(detail);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** What made the service refuse a request as busy: the label of `marquee_busy_responses_total`. */
export type BusyReason = 'database-queue' | 'statement-timeout' | 'handler-timeout';

const BUSY_DETAILS: Record<BusyReason, string> = {
  'database-queue': 'The service is busy: too many requests are waiting for the database. Retry shortly.',
  'statement-timeout': 'The service is busy: the database took longer than allowed to answer. Retry shortly.',
  'handler-timeout': 'The service is busy: the request took longer than this server allows. Retry shortly.',
};

/**
 * Overload, not an outage: the database answers but requests queue for it (or the answer took too long).
 * A 503 with a short Retry-After that clients and load balancers can tell from `unavailable`.
 */
export class ServiceBusyError extends HttpProblem {
  readonly status = 503;
  readonly slug = 'busy';
  readonly title = 'The service is busy';
  readonly retryAfterSeconds: number;
  readonly reason: BusyReason;

  constructor(reason: BusyReason, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(BUSY_DETAILS[reason], options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.retryAfterSeconds = options?.retryAfterSeconds ?? 1;
  }
}

/**
 * The overload an error stands for, if it is one: a ServiceBusyError, the route's time running out
 * (Fastify's handler time-out) or a statement cancelled by the database's `statement_timeout`.
 */
export function asBusyError(error: unknown): ServiceBusyError | undefined {
  if (error instanceof ServiceBusyError) return error;
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (code === 'FST_ERR_HANDLER_TIMEOUT') return new ServiceBusyError('handler-timeout', { cause: error });
  if (code === '57014' && error.message.includes('statement timeout')) {
    return new ServiceBusyError('statement-timeout', { cause: error });
  }
  return undefined;
}
