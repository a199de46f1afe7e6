import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Counter } from 'prom-client';
import { asBusyError, ServiceBusyError } from '../errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** False for routes that must answer under any load (health probes, metrics): never shed. */
    shedWhenBusy?: boolean;
  }
}

/**
 * Overload is not an outage. A request that arrives while more than `maxDatabaseQueue` callers of this
 * process already wait for a database connection is refused at once with 503 busy and a Retry-After,
 * before it adds to the queue (instead of waiting there until the pool's connection time-out fails it, and
 * every request behind it, seconds later). Busy answers, shed or timed out, are counted by reason.
 */
export const loadSheddingPlugin = fp(
  async (app: FastifyInstance, options: { maxDatabaseQueue: number; busyResponses: Counter<'reason'> }) => {
    const { load } = app.database;
    app.addHook('onRequest', async (request) => {
      if (request.routeOptions.config.shedWhenBusy === false) return;
      if (load.waiting >= options.maxDatabaseQueue) throw new ServiceBusyError('database-queue');
    });
    app.addHook('onError', async (_request, _reply, error) => {
      const busy = asBusyError(error);
      if (busy) options.busyResponses.inc({ reason: busy.reason });
    });
  },
  { name: 'load-shedding', dependencies: ['database'] },
);
