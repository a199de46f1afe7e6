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
