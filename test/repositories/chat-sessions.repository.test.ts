import t from 'tap';
import type { StoredChatTurn } from '../../src/db/database.ts';
import {
  appendChatTurn,
  deleteExpiredChatSessions,
  findLiveChatSession,
  listUserChatSessions,
} from '../../src/repositories/chat-sessions.repository.ts';
import { ensureUsersExist } from '../../src/repositories/users.repository.ts';
import { openTestDatabase } from '../helpers/test-app.ts';

const turn = (n: number): StoredChatTurn => ({
  at: new Date(Date.UTC(2026, 0, 1, 0, n)).toISOString(),
  message: `message ${n}`,
  query: { semanticText: `turn ${n}` },
  itemIds: [`item-${n}`],
  reply: `reply ${n}`,
});

t.test('turns append in order, the oldest beyond the cap dropped; expiry and ownership hold', async (t) => {
  const database = await openTestDatabase(t);
  t.teardown(() => database.close());
  const { db } = database;
  const now = new Date();
  const later = new Date(now.getTime() + 3_600_000);
  for (let n = 0; n < 23; n++)
    t.ok(await appendChatTurn(db, { id: 's1', userId: null, turn: turn(n), expiresAt: later, maxTurns: 20 }));
  const session = await findLiveChatSession(db, 's1', now);
  t.same(
    session?.turns.map((entry) => entry.message),
    Array.from({ length: 20 }, (_, n) => `message ${n + 3}`),
    'the last 20, oldest first',
  );

  await ensureUsersExist(db, ['alice']);
  t.ok(
    await appendChatTurn(db, { id: 's2', userId: 'alice', turn: turn(0), expiresAt: later, maxTurns: 20 }),
  );
  t.notOk(
    await appendChatTurn(db, { id: 's2', userId: null, turn: turn(1), expiresAt: later, maxTurns: 20 }),
    "another user's session is left untouched",
  );
  t.same((await findLiveChatSession(db, 's2', now))?.turns.length, 1);
  t.same(
    (await listUserChatSessions(db, 'alice')).map((row) => row.id),
    ['s2'],
  );

  t.equal(await findLiveChatSession(db, 's1', new Date(later.getTime() + 1)), undefined, 'expired: not read');
  t.equal(await deleteExpiredChatSessions(db, new Date(later.getTime() + 1), 1), 1, 'in batches');
  t.equal(await deleteExpiredChatSessions(db, new Date(later.getTime() + 1), 10), 1);
  t.equal(await deleteExpiredChatSessions(db, new Date(later.getTime() + 1), 10), 0);
});
