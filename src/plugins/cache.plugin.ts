import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Cache } from '../cache/cache.ts';

declare module 'fastify' {
  interface FastifyInstance {
    cache: Cache;
  }
}

/** Decorates the app with the cache (Redis or in-memory) and closes it when the app closes. */
export const cachePlugin = fp(
  async (app: FastifyInstance, options: { cache: Cache }) => {
    app.decorate('cache', options.cache);
    app.addHook('onClose', async () => {
      await options.cache.close();
    });
  },
  { name: 'cache' },
);
