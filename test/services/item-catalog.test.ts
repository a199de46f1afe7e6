import t from 'tap';
import { sql } from 'kysely';
import { startItemCatalog } from '../../src/services/item-catalog.service.ts';
import { openTestDatabase } from '../helpers/test-app.ts';

const quiet = { info: () => {}, warn: () => {} };

t.test(
  'the held catalog: loaded whole, caught up when the catalog version moves, read again after a deletion, ' +
    'and not held beyond its memory',
  async (t) => {
    const database = await openTestDatabase(t);
    t.teardown(() => database.close());
    const { db } = database;
    const put = (id: string, fields: Record<string, unknown> = {}) =>
      db
        .insertInto('items')
        .values({ id, type: 'movie', title: `Title ${id}`, genres: ['Dramas'], ...fields })
        .onConflict((conflict) =>
          conflict.column('id').doUpdateSet({ ...fields, updated_at: sql<Date>`now()` }),
        )
        .execute();
    for (let at = 0; at < 30; at++) await put(`item-${String(at).padStart(2, '0')}`);
    await put('boosted-low', { attributes: JSON.stringify({ boost: 1.5 }) });
    await put('boosted-high', { attributes: JSON.stringify({ boost: 3 }), series_id: 'saga' });
    await put('not-a-number', { attributes: JSON.stringify({ boost: 'high' }) });
    await put('later', { available_from: new Date(Date.now() + 86_400_000) });

    const catalog = startItemCatalog({
      db,
      memoryAvailableBytes: () => 64 * 1_048_576,
      logger: quiet,
      minReloadIntervalMs: 0,
      versionTrustedMs: 1_500,
    });
    t.teardown(() => catalog.stop());
    await catalog.settled();
    t.match(catalog.status(), { held: true, items: 34, reason: null });
    t.ok(catalog.status().bytes > 34 * 100, 'its size is counted');

    const v1 = await catalog.at('v1');
    t.ok(v1, 'held at the first version');
    t.match(v1!.get('item-03'), { title: 'Title item-03', genres: ['Dramas'], seriesId: null, boost: 0 });
    t.equal(v1!.get('nowhere'), undefined);
    t.same(v1!.boosted(), [
      { itemId: 'boosted-high', boost: 3 },
      { itemId: 'boosted-low', boost: 1.5 },
    ]);
    t.ok(v1!.get('later')!.availableFrom! > Date.now(), 'the availability window is held');
    t.equal(v1!.trainedAt, undefined, 'no training yet');

    // A write, then a new version: the next page sees it; the old version still answers as it was.
    await put('item-03', { title: 'Renamed', genres: ['Comedies', 'Dramas'] });
    await put('new-one', { attributes: JSON.stringify({ boost: 2 }) });
    t.equal((await catalog.at('v1'))!.get('item-03')!.title, 'Title item-03', 'same version: no read');
    const v2 = await catalog.at('v2');
    t.match(v2!.get('item-03'), { title: 'Renamed', genres: ['Comedies', 'Dramas'] });
    t.same(
      v2!.boosted().map((entry) => entry.itemId),
      ['boosted-high', 'new-one', 'boosted-low'],
    );
    t.match(catalog.status(), { items: 35 });

    // A deletion: the count no longer matches, so pages go to SQL until the catalog is read again.
    await db.deleteFrom('items').where('id', '=', 'item-05').execute();
    t.equal(await catalog.at('v3'), undefined, 'stale after a deletion');
    t.match(catalog.status().reason, /deleted items/);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await catalog.settled();
    const v4 = await catalog.at('v4');
    t.ok(v4, 'held again once read again');
    t.equal(v4!.get('item-05'), undefined, 'the deleted item is gone');
    t.match(catalog.status(), { held: true, items: 34, reason: null });

    // A write that no version bump announces (a bulk import under way, Redis away): seen once the version
    // is no longer trusted.
    await put('item-07', { title: 'Quietly renamed' });
    t.equal((await catalog.at('v4'))!.get('item-07')!.title, 'Title item-07', 'the version is still trusted');
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    t.equal((await catalog.at('v4'))!.get('item-07')!.title, 'Quietly renamed', 'then it catches up anyway');

    // Beyond the memory it may take: not held, with the reason.
    const tight = startItemCatalog({ db, memoryAvailableBytes: () => 1_000, logger: quiet });
    t.teardown(() => tight.stop());
    await tight.settled();
    t.match(tight.status(), { held: false, reason: /beyond what MARQUEE_MODEL_MEMORY_MB leaves/ });
    t.equal(await tight.at('v1'), undefined);
    const none = startItemCatalog({ db, memoryAvailableBytes: () => 0, logger: quiet });
    t.teardown(() => none.stop());
    await none.settled();
    t.match(none.status(), { held: false });
    t.equal(await none.at('v1'), undefined);
  },
);
