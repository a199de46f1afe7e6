import swagger from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject } from '@fastify/type-provider-zod';
import scalar from '@scalar/fastify-api-reference';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import packageJson from '../../package.json' with { type: 'json' };
import { publicAccess, SCOPE_DESCRIPTIONS } from '../auth/access.ts';
import { PROBLEM_TYPE_PREFIX } from '../errors.ts';
import { finalizeOpenApiDocument } from './openapi-finalize.ts';

export const OPENAPI_TAGS = [
  { name: 'items', description: 'The catalog: movies, series, episodes, tracks, podcasts, articles.' },
  { name: 'users', description: 'User profiles, their history, and privacy erasure.' },
  { name: 'events', description: 'Interactions (views, plays, ratings...) that drive recommendations.' },
  { name: 'health', description: 'Liveness and readiness for load balancers and orchestrators.' },
  { name: 'admin', description: 'API keys and per-user tokens.' },
  { name: 'search', description: 'Full-text and semantic search of the catalog, optionally personalised.' },
  {
    name: 'chat',
    description: 'Conversational recommendations: "find me something to watch", in plain language.',
  },
  {
    name: 'stats',
    description: 'How served recommendations perform: clicks, completions, per source and variant.',
  },
];

type RouteTransform = typeof jsonSchemaTransform;
type ContentResponse = { description?: string; content: Record<string, { schema: unknown }> };

const isContentResponse = (value: unknown): value is ContentResponse =>
  typeof value === 'object' && value !== null && 'content' in value && !('_zod' in value);

/**
 * The zod transform, plus what it cannot read: a response given per content type (`{description, content:
 * {"text/event-stream": {schema}}}`, which Fastify serializes by content type), each of whose schemas goes
 * through the transform on its own.
 */
const transformRouteSchema: RouteTransform = (input) => {
  const responses = (input.schema as { response?: Record<string, unknown> } | undefined)?.response;
  if (!responses || !Object.values(responses).some(isContentResponse)) return jsonSchemaTransform(input);
  const plain = Object.fromEntries(
    Object.entries(responses).filter(([, value]) => !isContentResponse(value)),
  );
  const result = jsonSchemaTransform({ ...input, schema: { ...input.schema, response: plain } });
  const converted = (result.schema as { response?: Record<string, unknown> }).response ?? {};
  const convert = (status: string, schema: unknown) =>
    (
      jsonSchemaTransform({ ...input, schema: { response: { [status]: schema } } }).schema as {
        response: Record<string, unknown>;
      }
    ).response[status];
  (result.schema as { response?: Record<string, unknown> }).response = Object.fromEntries(
    Object.entries(responses).map(([status, value]) => [
      status,
      isContentResponse(value)
        ? {
            ...(value.description !== undefined && { description: value.description }),
            content: Object.fromEntries(
              Object.entries(value.content).map(([type, media]) => [
                type,
                { schema: convert(status, media.schema) },
              ]),
            ),
          }
        : converted[status],
    ]),
  );
  return result;
};

/** The OpenAPI 3.1 document generated from the routes' zod schemas, at /openapi.json, rendered at /docs. */
export const openapiPlugin = fp(
  async (app: FastifyInstance) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Marquee API',
          version: packageJson.version,
          summary: 'Headless recommendations for media catalogs.',
          description:
            'Personalised rows, similar titles, search and chat for streaming video, music, podcasts and news. ' +
            'JSON in camelCase. Every error is an RFC 9457 problem (application/problem+json) whose `type` ' +
            `starts with \`${PROBLEM_TYPE_PREFIX}\`.`,
          license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
        },
        // Relative: "try it" in /docs and generated clients call the host that served the document.
        servers: [{ url: '/', description: 'The server that serves this document' }],
        tags: OPENAPI_TAGS,
        components: {
          securitySchemes: {
            apiKey: {
              type: 'http',
              scheme: 'bearer',
              description:
                'An API key (mq_…), sent as `Authorization: Bearer <key>`. Scopes: ' +
                Object.entries(SCOPE_DESCRIPTIONS)
                  .map(([scope, description]) => `\`${scope}\` (${description})`)
                  .join('; ') +
                '. Create keys with `marquee keys create` or POST /v1/admin/keys.',
            },
            userToken: {
              type: 'http',
              scheme: 'bearer',
              bearerFormat: 'JWT',
              description:
                "A short-lived token bound to one user (POST /v1/admin/user-tokens), for browsers and apps: it may only read that user's recommendations and post that user's events.",
            },
          },
        },
      },
      transform: transformRouteSchema,
      transformObject: (document) =>
        finalizeOpenApiDocument(jsonSchemaTransformObject(document) as Record<string, unknown>) as ReturnType<
          typeof jsonSchemaTransformObject
        >,
    });

    app.get('/openapi.json', { schema: { hide: true }, config: { access: publicAccess } }, async () =>
      app.swagger(),
    );

    await app.register(scalar, {
      routePrefix: '/docs',
      configuration: {
        url: '/openapi.json',
        // Everything is served from this process: no web fonts, no request proxy, nothing from a CDN.
        withDefaultFonts: false,
        hideClientButton: true,
        telemetry: false,
        showDeveloperTools: 'never',
        agent: { disabled: true },
      },
    });
  },
  { name: 'openapi' },
);
