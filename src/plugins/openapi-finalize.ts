// Last touches on the generated OpenAPI document that the zod-to-JSON-schema transform cannot express.

type JsonObject = Record<string, unknown>;

const HTTP_METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'];

export function finalizeOpenApiDocument<T extends JsonObject>(document: T): T {
  const paths = (document.paths ?? {}) as Record<string, Record<string, JsonObject>>;
  for (const pathItem of Object.values(paths)) {
    for (const [method, operation] of Object.entries(pathItem)) {
      if (!HTTP_METHODS.includes(method)) continue;
      declareProblemContentType(operation);
      if (method === 'patch') acceptMergePatch(operation);
    }
  }
  pruneUnusedSchemas(document);
  return document;
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
