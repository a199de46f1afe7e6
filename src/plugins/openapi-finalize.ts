// Last touches on the generated OpenAPI document that the zod-to-JSON-schema transform cannot express.

type JsonObject = Record<string, unknown>;

const HTTP_METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'];
// What @fastify/swagger writes for a response whose schema has no description.
const UNDESCRIBED = 'Default Response';
const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };

/** Answers every operation can give besides its own: the rate limit and an unavailable or busy service. */
const COMMON_PROBLEMS: Record<string, string> = {
  429: 'Too many requests for this credential or address: retry after the Retry-After delay.',
  503: 'The database is unreachable or the service is busy: retry after the Retry-After delay.',
};
const STATUS_WORDS: Record<string, string> = {
  401: 'No credentials, or credentials that are not valid: send Authorization: Bearer <API key or user token>.',
  403: 'The credentials do not allow this operation (scope, or another user).',
  ...COMMON_PROBLEMS,
};

export function finalizeOpenApiDocument<T extends JsonObject>(document: T): T {
  const paths = (document.paths ?? {}) as Record<string, Record<string, JsonObject>>;
  const schemas = ((document.components as JsonObject | undefined)?.schemas ?? {}) as Record<
    string,
    JsonObject
  >;
  for (const pathItem of Object.values(paths)) {
    for (const [method, operation] of Object.entries(pathItem)) {
      if (!HTTP_METHODS.includes(method)) continue;
      declareCommonProblems(operation);
      declareProblemContentType(operation);
      describeResponses(operation, schemas);
      if (method === 'patch') acceptMergePatch(operation);
    }
  }
  pruneUnusedSchemas(document);
  return document;
}

/**
 * 429 and 503 on every operation but the health checks (which are never rate-limited, and whose 503 says
 * what is down): any route is rate-limited, and any route answers 503 when the database is out of reach.
 */
function declareCommonProblems(operation: JsonObject) {
  if ((operation.tags as string[] | undefined)?.includes('health')) return;
  const responses = (operation.responses ??= {}) as Record<string, JsonObject>;
  for (const [status, description] of Object.entries(COMMON_PROBLEMS))
    responses[status] ??= { description, content: { 'application/problem+json': { schema: PROBLEM_REF } } };
}

/** Every response says what it is: from the status, or from the description of the schema it returns. */
function describeResponses(operation: JsonObject, schemas: Record<string, JsonObject>) {
  const responses = (operation.responses ?? {}) as Record<string, JsonObject>;
  for (const [status, response] of Object.entries(responses)) {
    if (response.description !== UNDESCRIBED) continue;
    const schema = Object.values((response.content ?? {}) as Record<string, { schema?: JsonObject }>)[0]
      ?.schema;
    const name = typeof schema?.$ref === 'string' ? schema.$ref.split('/').at(-1) : undefined;
    const described = name ? schemas[name]?.description : undefined;
    response.description =
      STATUS_WORDS[status] ?? (typeof described === 'string' ? described : name ? `A ${name}.` : 'Success.');
  }
}

/** Errors are sent as application/problem+json (RFC 9457), which the generator cannot know. */
function declareProblemContentType(operation: JsonObject) {
  const responses = (operation.responses ?? {}) as Record<string, { content?: Record<string, unknown> }>;
  for (const [status, response] of Object.entries(responses)) {
    const documented = response.content && Object.values(response.content)[0];
    if (Number(status) >= 400 && documented) response.content = { 'application/problem+json': documented };
  }
}

/** PATCH bodies are JSON merge patches: both content types are accepted. */
function acceptMergePatch(operation: JsonObject) {
  const content = (operation.requestBody as { content?: Record<string, unknown> } | undefined)?.content;
  if (content?.['application/json']) {
    content['application/merge-patch+json'] = content['application/json'];
  }
}

/**
 * The transform emits every registered schema twice (an input and an output variant); keep only those
 * that some operation or kept schema refers to.
 */
function pruneUnusedSchemas(document: JsonObject) {
  const components = document.components as { schemas?: Record<string, unknown> } | undefined;
  const schemas = components?.schemas;
  if (!schemas) return;
  const used = new Set<string>();
  const visit = (value: unknown) => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        if (key === '$ref' && typeof child === 'string' && child.startsWith('#/components/schemas/')) {
          const name = child.slice('#/components/schemas/'.length);
          if (!used.has(name)) {
            used.add(name);
            visit(schemas[name]);
          }
        } else visit(child);
      }
    }
  };
  visit(document.paths);
  for (const name of Object.keys(schemas)) if (!used.has(name)) delete schemas[name];
}
