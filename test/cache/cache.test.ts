import t from 'tap';
import { createMemoryCache } from '../../src/cache/memory-cache.ts';
import { openTestCache } from '../helpers/test-app.ts';

t.test('the suite cache (Redis or memory) stores, expires and deletes by prefix', async (t) => {
  const cache = await openTestCache();
  t.teardown(async () => {
    await cache.deleteByPrefix('');
    await cache.close();
  });
  await cache.set('user:a:page', { items: [1, 2] }, 60);
  await cache.set('user:a:other', 'x', 60);
  await cache.set('user:ab:page', 'kept', 60);
  t.same(await cache.get('user:a:page'), { items: [1, 2] });
  await cache.deleteByPrefix('user:a:');
  t.equal(await cache.get('user:a:page'), undefined);
  t.equal(await cache.get('user:a:other'), undefined);
  t.equal(await cache.get('user:ab:page'), 'kept', 'a longer id sharing the prefix text is not touched');
  await cache.delete('user:ab:page');
  t.equal(await cache.get('user:ab:page'), undefined);
  t.equal(await cache.health(), 'ok');
});

t.test('memory cache entries expire after their TTL and cannot be mutated by a reader', async (t) => {
  const cache = createMemoryCache(10);
  await cache.set('k', { n: 1 }, 0.05);
  const read = await cache.get<{ n: number }>('k');
  t.same(read, { n: 1 });
  if (read) read.n = 99;
  t.same(await cache.get('k'), { n: 1 }, 'a copy was handed out');
  await new Promise((resolve) => setTimeout(resolve, 80));
  t.equal(await cache.get('k'), undefined, 'expired');
});

t.test('memory cache evicts the least recently used entry beyond its size', async (t) => {
  const cache = createMemoryCache(2);
  await cache.set('a', 1, 60);
  await cache.set('b', 2, 60);
  await cache.get('a');
  await cache.set('c', 3, 60);
  t.equal(await cache.get('b'), undefined);
  t.equal(await cache.get('a'), 1);
  t.equal(await cache.get('c'), 3);
});

t.test('the suite cache counts: increment adds up, reads back, and expires from its creation', async (t) => {
  const cache = await openTestCache();
  t.teardown(async () => {
    await cache.deleteByPrefix('');
    await cache.close();
  });
  t.equal(await cache.increment('tokens:k', 120, 1), 120);
  t.equal(await cache.increment('tokens:k', 30, 60), 150, 'a later TTL does not extend the counter');
  t.equal(await cache.get<number>('tokens:k'), 150);
  t.equal(await cache.increment('tokens:other', 1, 60), 1, 'counters are independent');
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  t.equal(await cache.get('tokens:k'), undefined, 'gone one second after it was created');
  t.equal(await cache.increment('tokens:k', 5, 60), 5, 'and starts again at zero');
});
