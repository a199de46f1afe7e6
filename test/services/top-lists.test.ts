import t from 'tap';
import { findTopItemsByStat, type ItemStat } from '../../src/repositories/candidates.repository.ts';
import { createTopLists } from '../../src/services/top-lists.ts';
import { insertItemStats } from '../helpers/recommendation-data.ts';
import { openTestDatabase } from '../helpers/test-app.ts';

t.test(
  'shared top lists answer as Postgres does (exclusions, trending relative to the first kept), are read ' +
    'again when the statistics version moves, and leave filters and deep exclusions to Postgres',
  async (t) => {
    const database = await openTestDatabase(t);
    t.teardown(() => database.close());
    const { db } = database;
    const ids = Array.from({ length: 12 }, (_, at) => `item-${String(at).padStart(2, '0')}`);
    for (const id of ids)
      await db
        .insertInto('items')
        .values({ id, type: 'movie', title: id, genres: [at(id) % 2 === 0 ? 'Dramas' : 'Comedies'] })
        .execute();
    await insertItemStats(
      db,
      ids.map((itemId) => ({
        itemId,
        users: 100 - at(itemId) * 7,
        day: 1,
        week: 50 - at(itemId) * 3,
        month: 1,
      })),
    );
    let version = 'v1';
    let reads = 0;
    const counted = db.withPlugin({
      transformQuery: (args) => {
        reads++;
        return args.node;
      },
      transformResult: (args) => Promise.resolve(args.result),
    });
    const top = createTopLists(counted, { depth: 8 });
    for (const stat of ['popularity', 'trending_week'] as ItemStat[]) {
      for (const excludeIds of [[], ['item-00', 'item-02'], ['item-01']]) {
        const query = { limit: 4, filters: {}, excludeIds };
        const shared = await top(stat, query, version);
        const direct = await findTopItemsByStat(db, stat, query);
        t.same(
          shared.map(({ itemId, users }) => ({ itemId, users })),
          direct.map(({ itemId, users }) => ({ itemId, users })),
          `${stat} ${excludeIds.join()}`,
        );
        t.ok(
          shared.every((item, at) => Math.abs(item.value - direct[at]!.value) <= 1e-12 * direct[at]!.value),
          `${stat} ${excludeIds.join()}: the same values`,
        );
      }
    }
    const before = reads;
    await top('popularity', { limit: 4, filters: {}, excludeIds: [] }, version);
    t.equal(reads, before, 'a list read within the second is shared');
    version = 'v2';
    await top('popularity', { limit: 4, filters: {}, excludeIds: [] }, version);
    t.equal(reads, before + 1, 'a new statistics version reads it again');

    // More exclusions than the shared list can cover, and filters: Postgres.
    const deep = { limit: 4, filters: {}, excludeIds: ids.slice(0, 6) };
    t.same(await top('popularity', deep, version), await findTopItemsByStat(db, 'popularity', deep));
    t.same(
      (await top('popularity', deep, version)).map((item) => item.itemId),
      ['item-06', 'item-07', 'item-08', 'item-09'],
    );
    const filtered = { limit: 3, filters: { genresAny: ['Dramas'] }, excludeIds: [] };
    t.same(
      (await top('popularity', filtered, version)).map((item) => item.itemId),
      ['item-00', 'item-02', 'item-04'],
    );
  },
);

function at(id: string): number {
  return Number(id.slice(5));
}
