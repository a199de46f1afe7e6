import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Security headers suited to a JSON API (no sniffing, no framing, no referrer, HSTS) and CORS for the
 * configured browser origins only. Content-Security-Policy is left to /docs's own page: the API answers
 * JSON, which browsers never render as a document.
 */
export const securityPlugin = fp(
  async (app: FastifyInstance, options: { corsOrigins: readonly string[] }) => {
    await app.register(helmet, {
      contentSecurityPolicy: false,
      crossOriginEmbedderPolicy: false,
      referrerPolicy: { policy: 'no-referrer' },
    });
    await app.register(cors, {
      // No origin configured: no CORS headers, so browsers on other origins cannot call the API.
      origin: options.corsOrigins.length > 0 ? [...options.corsOrigins] : false,
      methods: ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
      exposedHeaders: [
        'x-request-id',
        'retry-after',
        'ratelimit-limit',
        'ratelimit-remaining',
        'ratelimit-reset',
      ],
      maxAge: 600,
    });
  },
  { name: 'security' },
);
