import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { purgeExpiredChatSessions, purgeExpiredEvents } from '../services/retention.service.ts';

// Hourly is plenty for a retention counted in days; every replica may run it, deletes are idempotent.
const PURGE_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Deletes expired chat sessions, and with MARQUEE_EVENT_RETENTION_DAYS set events older than that, at
 * start-up and then every hour. (An expired session is never read even before it is purged.)
 */
export const retentionPlugin = fp(
  async (app: FastifyInstance, options: { days: number | undefined }) => {
    const days = options.days;
    const purge = async () => {
      try {
        if (days !== undefined) {
          const deleted = await purgeExpiredEvents(app.db, days);
          if (deleted > 0) {
            app.log.info({ deleted, retentionDays: days }, 'expired events deleted');
            // Their counts leave the statistics now and the models at the training this asks for.
            await app.modelTraining.eventsDeleted({ reason: 'retention purge' });
          }
        }
        const sessions = await purgeExpiredChatSessions(app.db);
        if (sessions > 0) app.log.info({ deleted: sessions }, 'expired chat sessions deleted');
      } catch (error) {
        app.log.warn({ err: error }, 'retention purge failed; will retry');
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
  { name: 'retention', dependencies: ['database', 'model-training'] },
);
