import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { purgeExpiredEvents } from '../services/retention.service.ts';

// Hourly is plenty for a retention counted in days; every replica may run it, deletes are idempotent.
const PURGE_INTERVAL_MS = 60 * 60 * 1000;

/** With MARQUEE_EVENT_RETENTION_DAYS set, deletes older events at start-up and then every hour. */
export const retentionPlugin = fp(
  async (app: FastifyInstance, options: { days: number | undefined }) => {
    const days = options.days;
    if (days === undefined) return;
    const purge = async () => {
      try {
        const deleted = await purgeExpiredEvents(app.db, days);
        if (deleted > 0) app.log.info({ deleted, retentionDays: days }, 'expired events deleted');
      } catch (error) {
        app.log.warn({ err: error }, 'event retention purge failed; will retry');
      }
    };
    let timer: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      await purge();
      timer = setInterval(() => void purge(), PURGE_INTERVAL_MS);
      timer.unref();
    });
    app.addHook('onClose', async () => clearInterval(timer));
  },
  { name: 'retention', dependencies: ['database'] },
);
