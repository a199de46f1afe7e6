import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.ts';
import {
  TRENDING_REFERENCE_SECONDS,
  TRENDING_WINDOWS,
  type TrendingWindowName,
  decayRate,
  logAdd,
  logWeight,
} from '../recommender/trending-decay.ts';
import { getMetaValue, setMetaValue } from './meta.repository.ts';

// The live item statistics (issue 18): item_stats follows the events table as events are stored (in the
// same transaction), and is rebuilt from it when what counts changes (the positive event types) or when
// events go (erasure, retention). A row exists while its item has at least one positive event.

/** marquee_meta key: `{ types }`, the positive event types item_stats was built with. */
const ITEM_STATS_KEY = 'item_stats';

/** What the statistics need of a stored event. */
export interface StoredEventFacts {
  seq: string | number;
  userId: string;
  itemId: string;
  type: string;
  /** occurred_at, epoch milliseconds. */
  occurredAtMs: number;
}

/**
 * Adds freshly stored events to item_stats; run in the transaction that stored them. Counts an event when
 * its type is positive; a user counts once per item (the events stored before are looked up for the users
 * and items of the batch). Events in the future count as of now, so a wrong clock cannot pin an item on top.
 */
export async function addEventsToItemStats(
  trx: Kysely<Database>,
  events: readonly StoredEventFacts[],
  positiveTypes: readonly string[],
  now = Date.now(),
): Promise<void> {
  const positive = new Set(positiveTypes);
  const counted = events.filter((event) => positive.has(event.type));
  if (counted.length === 0) return;
  const userIds = [...new Set(counted.map((event) => event.userId))];
  const itemIds = [...new Set(counted.map((event) => event.itemId))];
  const seqs = counted.map((event) => String(event.seq));
  // Pairs that already had a positive event before this batch: their user is counted already.
  const earlier = await sql<{ user_id: string; item_id: string }>`
    SELECT DISTINCT user_id, item_id FROM events
    WHERE user_id = ANY(${userIds}::text[]) AND item_id = ANY(${itemIds}::text[])
      AND type = ANY(${[...positive]}::text[]) AND NOT (seq = ANY(${seqs}::bigint[]))`.execute(trx);
  const seen = new Set(earlier.rows.map((row) => pairKey(row.user_id, row.item_id)));

  const perItem = new Map<
    string,
    { interactions: number; users: number; day: number; week: number; month: number }
  >();
  for (const event of counted) {
    let entry = perItem.get(event.itemId);
    if (!entry) {
      entry = { interactions: 0, users: 0, day: -Infinity, week: -Infinity, month: -Infinity };
      perItem.set(event.itemId, entry);
    }
    entry.interactions++;
    const pair = pairKey(event.userId, event.itemId);
    if (!seen.has(pair)) {
      seen.add(pair);
      entry.users++;
    }
    const time = Math.min(event.occurredAtMs, now);
    for (const window of TRENDING_WINDOWS) entry[window] = logAdd(entry[window], logWeight(window, time));
  }
  // Sorted by item, so that two batches touching the same items lock their rows in the same order.
  const records = [...perItem]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([itemId, entry]) => ({ item_id: itemId, ...entry }));
  await sql`
    INSERT INTO item_stats AS s
      (item_id, interactions, users, popularity, trending_day, trending_week, trending_month, updated_at)
    SELECT item_id, interactions, users, users, day, week, month, now()
    FROM json_to_recordset(${JSON.stringify(records)}::json)
      AS r(item_id text, interactions integer, users integer, day float8, week float8, month float8)
    ON CONFLICT (item_id) DO UPDATE SET
      interactions = s.interactions + excluded.interactions,
      users = s.users + excluded.users,
      popularity = s.popularity + excluded.popularity,
      trending_day = marquee_log_add(s.trending_day, excluded.trending_day),
      trending_week = marquee_log_add(s.trending_week, excluded.trending_week),
      trending_month = marquee_log_add(s.trending_month, excluded.trending_month),
      updated_at = now()`.execute(trx);
}

/**
 * Recomputes item_stats from the events table: for `itemIds` only (after an erasure took events of theirs),
 * or every row (then, with `onlyIfStale`, only when itemStatsNeedRebuild still says so under the lock, and
 * undefined when not). Takes the table's EXCLUSIVE lock first, so that an ingest writing meanwhile waits and then
 * adds its events on top of the rebuilt rows (its events are not visible to the rebuild: none is lost or
 * counted twice).
 */
export async function rebuildItemStats(
  db: Kysely<Database>,
  positiveTypes: readonly string[],
  itemIds?: readonly string[],
  { onlyIfStale = false }: { onlyIfStale?: boolean } = {},
): Promise<number | undefined> {
  if (itemIds?.length === 0) return 0;
  const rebuild = async (trx: Kysely<Database>) => {
    await sql`LOCK TABLE item_stats IN EXCLUSIVE MODE`.execute(trx);
    // Replicas starting together: the first rebuilds, the others find it done once they hold the lock.
    if (onlyIfStale && !(await itemStatsNeedRebuild(trx, positiveTypes))) return undefined;
    const only = itemIds ? sql`item_id = ANY(${[...itemIds]}::text[])` : sql`true`;
    await sql`DELETE FROM item_stats WHERE ${only}`.execute(trx);
    const rates = Object.fromEntries(TRENDING_WINDOWS.map((window) => [window, decayRate(window)])) as Record<
      TrendingWindowName,
      number
    >;
    const logSum = (window: TrendingWindowName) =>
      sql`max(s) * ${rates[window]}::float8 + ln(sum(exp(greatest((s - latest) * ${rates[window]}::float8, -700))))`;
    const inserted = await sql`
      INSERT INTO item_stats
        (item_id, interactions, users, popularity, trending_day, trending_week, trending_month, updated_at)
      SELECT item_id, count(*)::int, count(DISTINCT user_id)::int, count(DISTINCT user_id),
        ${logSum('day')}, ${logSum('week')}, ${logSum('month')}, now()
      FROM (
        SELECT item_id, user_id, s, max(s) OVER (PARTITION BY item_id) AS latest
        FROM (
          SELECT item_id, user_id,
            extract(epoch FROM least(occurred_at, now()))::float8 - ${TRENDING_REFERENCE_SECONDS}::float8 AS s
          FROM events
          WHERE type = ANY(${[...positiveTypes]}::text[]) AND ${only}
        ) timed
      ) positioned
      GROUP BY item_id`.execute(trx);
    if (!itemIds) await setMetaValue(trx, ITEM_STATS_KEY, { types: [...positiveTypes].sort() });
    return Number(inserted.numAffectedRows ?? 0);
  };
  return db.isTransaction ? rebuild(db) : db.transaction().execute(rebuild);
}

/** True when item_stats was built with other positive event types than these (or never): rebuild it. */
export async function itemStatsNeedRebuild(
  db: Kysely<Database>,
  positiveTypes: readonly string[],
): Promise<boolean> {
  const stored = (await getMetaValue(db, ITEM_STATS_KEY)) as { types?: unknown } | undefined;
  const types = Array.isArray(stored?.types) ? stored.types : undefined;
  return types === undefined || JSON.stringify(types) !== JSON.stringify([...positiveTypes].sort());
}

/** The items a user has positive events on (what their erasure changes in item_stats and the models). */
export async function findUserPositiveItemIds(
  db: Kysely<Database>,
  userId: string,
  positiveTypes: readonly string[],
): Promise<string[]> {
  const rows = await db
    .selectFrom('events')
    .select('item_id')
    .distinct()
    .where('user_id', '=', userId)
    .where('type', 'in', positiveTypes.length > 0 ? [...positiveTypes] : [''])
    .execute();
  return rows.map((row) => row.item_id);
}

const pairKey = (userId: string, itemId: string) => `${userId}\u0000${itemId}`;
