import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { type ProfileSettings, refreshUserProfilesAfterWrite } from '../services/profiles.service.ts';

/**
 * What follows a commit of events (POST /v1/events, and POST /v1/feedback's event): the users' profiles are
 * refreshed and their cached pages dropped, with the lists made from the statistics (trending), in every
 * replica, before the answer; a refresh that fails is logged, not answered (the events are stored).
 */
export function afterEventsCommitted(
  app: FastifyInstance,
  profiles: ProfileSettings,
  log: FastifyBaseLogger,
): (userIds: readonly string[]) => Promise<void> {
  return async (userIds) => {
    await refreshUserProfilesAfterWrite(app.db, profiles, userIds, log);
    await Promise.all([
      ...userIds.map((userId) => app.pageCache.invalidateUser(userId)),
      app.pageCache.invalidateStatistics(),
    ]);
  };
}
