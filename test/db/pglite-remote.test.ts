import { sql } from 'kysely';
import t from 'tap';
import { connectDatabase } from '../../src/db/connect.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { freshDatabaseConfig } from '../helpers/test-app.ts';

// These run on the suite's database (embedded PGlite on its worker thread, or Postgres): both drivers must
// behave the same for the code above them.

t.test(
  'database errors keep their Postgres fields, and a failed transaction leaves nothing behind',
  async (t) => {
    const database = await connectDatabase(await freshDatabaseConfig(t));
    t.teardown(() => database.close());
    await migrateToLatest(database.db);
    await database.db.insertInto('users').values({ id: 'u1' }).execute();

    const duplicate = await database.db
      .insertInto('users')
      .values({ id: 'u1' })
      .execute()
      .catch((error: unknown) => error);
    t.match(duplicate, { code: '23505', constraint: 'users_pkey' }, 'a unique violation is recognisable');

    await t.rejects(
      database.db.transaction().execute(async (trx) => {
        await trx.insertInto('users').values({ id: 'u2' }).execute();
        throw new Error('abort');
      }),
      { message: 'abort' },
    );
    const ids = await database.db.selectFrom('users').select('id').orderBy('id').execute();
    t.same(
      ids.map((row) => row.id),
      ['u1'],
      'the rolled back insert is gone',
    );
    t.equal(
      (await sql<{ one: number }>`SELECT 1 AS one`.execute(database.db)).rows[0]?.one,
      1,
      'still usable',
    );
  },
);

t.test('values round-trip with the same JavaScript types on both drivers', async (t) => {
  const database = await connectDatabase(await freshDatabaseConfig(t));
  t.teardown(() => database.close());
  await migrateToLatest(database.db);
  const availableFrom = new Date('2024-02-29T12:34:56.789Z');
  await database.db
    .insertInto('items')
    .values({
      id: 'i1',
      type: 'movie',
      title: 'Ünïcode ✓ "quotes" \' and \\ backslash',
      genres: ['a', 'b,c', 'd "e"'],
      credits: JSON.stringify([{ name: 'X', role: 'actor' }]),
      attributes: JSON.stringify({ nested: { list: [1, null, true] } }),
      available_from: availableFrom,
    })
    .execute();
  const row = await database.db.selectFrom('items').selectAll().executeTakeFirstOrThrow();
  t.equal(row.title, 'Ünïcode ✓ "quotes" \' and \\ backslash');
  t.same(row.genres, ['a', 'b,c', 'd "e"']);
  t.same(row.credits, [{ name: 'X', role: 'actor' }]);
  t.same(row.attributes, { nested: { list: [1, null, true] } });
  t.ok(row.available_from instanceof Date);
  t.equal(row.available_from?.toISOString(), availableFrom.toISOString());
});
