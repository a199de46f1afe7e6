import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import type { Config, RecommenderConfig } from '../config.ts';
import type { Database } from '../db/database.ts';
import { buildProfile } from '../recommender/profile.ts';
import {
  deleteUserProfiles,
  findItemEmbeddings,
  loadProfileEvents,
  lockExistingUsers,
  upsertUserProfiles,
  type UserProfileWrite,
} from '../repositories/user-profiles.repository.ts';

// A profile is rebuilt from the user's latest events rather than updated event by event: simple, and it
// cannot drift. 500 events cover months of a heavy viewer (older ones have decayed to little anyway) and
// bound a rebuild at 500 rows; more would follow a long history further for a slower refresh on every write.
export const PROFILE_EVENTS_PER_USER = 500;
// Users per transaction: at most 100,000 events and the embeddings of their items in memory at once.
const PROFILE_REFRESH_CHUNK = 200;

/** What a profile refresh needs from the configuration. */
export interface ProfileSettings {
  recommender: RecommenderConfig;
  /** The embedding model of the stored item vectors (config.embedding.model), recorded with each profile. */
  embeddingModel: string;
}

/**
 * Rebuilds the profiles of these users from their latest PROFILE_EVENTS_PER_USER events, ~200 users per
 * transaction; a user with no events left has their profile deleted, an unknown user is skipped. Returns how
 * many profiles were written.
 */
export async function refreshUserProfiles(
  db: Kysely<Database>,
  recommender: RecommenderConfig,
  embeddingModel: string,
  userIds: Iterable<string>,
): Promise<number> {
  const users = [...new Set(userIds)].sort();
  const options = {
    eventWeights: recommender.eventWeights,
    halfLifeDays: recommender.profileHalfLifeDays,
    interests: recommender.profileInterests,
  };
  let written = 0;
  for (let start = 0; start < users.length; start += PROFILE_REFRESH_CHUNK) {
    const chunk = users.slice(start, start + PROFILE_REFRESH_CHUNK);
    written += await db.transaction().execute(async (trx) => {
      const existing = await lockExistingUsers(trx, chunk);
      const eventsByUser = await loadProfileEvents(trx, existing, PROFILE_EVENTS_PER_USER);
      const itemIds = new Set<string>();
      for (const events of eventsByUser.values()) for (const event of events) itemIds.add(event.itemId);
      const embeddings = await findItemEmbeddings(trx, [...itemIds]);
      const rows: UserProfileWrite[] = [];
      for (const [userId, events] of eventsByUser) {
        const profile = buildProfile(events, embeddings, options);
        rows.push({
          userId,
          profile,
          embeddingModel: profile.interests.length > 0 || profile.negative ? embeddingModel : null,
          eventsSeen: events.length,
          // Loaded newest first.
          lastEventAt: events[0]?.occurredAt ?? null,
        });
      }
      await deleteUserProfiles(
        trx,
        existing.filter((userId) => !eventsByUser.has(userId)),
      );
      return upsertUserProfiles(trx, rows);
    });
  }
  return written;
}

/**
 * refreshUserProfiles for a write path that must not fail because of it (the events are stored already):
 * a failure is logged and the profiles stay as they were until these users' next events.
 */
export async function refreshUserProfilesAfterWrite(
  db: Kysely<Database>,
  settings: ProfileSettings,
  userIds: Iterable<string>,
  logger: FastifyBaseLogger | undefined,
): Promise<void> {
  const users = [...new Set(userIds)];
  if (users.length === 0) return;
  try {
    await refreshUserProfiles(db, settings.recommender, settings.embeddingModel, users);
  } catch (error) {
    logger?.warn(
      { err: error, users: users.length },
      'refreshing user profiles failed; they stay as they were',
    );
  }
}

/** The profile settings of a configuration. */
export function profileSettings(config: Config): ProfileSettings {
  return { recommender: config.recommender, embeddingModel: config.embedding.model };
}
