import t from 'tap';
import { buildTestApp, json } from '../helpers/test-app.ts';

// Issue 17: one spelling per concept on every endpoint that filters, with the items list's spellings accepted
// as aliases: `genre` (one genre every item has), `type` for `types`, `language` for `languages`.

t.test('every filtering endpoint takes genre, type/types and language/languages alike', async (t) => {
  const { inject } = await buildTestApp(t);
  for (const [id, title, type, genres, language] of [
    ['m1', 'Alien', 'movie', ['Horror', 'Sci-Fi'], 'en'],
    ['m2', 'Aliens', 'movie', ['Action', 'Sci-Fi'], 'en'],
    ['m3', 'Alien 3', 'movie', ['Horror'], 'fr'],
    ['s1', 'Alien Nation', 'series', ['Sci-Fi'], 'en'],
  ] as const)
    await inject({
      method: 'PUT',
      url: `/v1/items/${id}`,
      ...json({ title, type, genres, language, description: `${title}.` }),
    });
  const events = ['u1', 'u2', 'u3'].flatMap((userId) =>
    ['m1', 'm2', 'm3', 's1'].map((itemId) => ({ userId, itemId, type: 'play' })),
  );
  await inject({ method: 'POST', url: '/v1/events', ...json({ events }) });
  await inject({ method: 'POST', url: '/v1/admin/models/train' });

  const pages = ['/v1/trending', '/v1/items/m2/similar', '/v1/users/newcomer/recommendations'];
  for (const page of pages) {
    const ask = async (query: string) => {
      const response = await inject({ method: 'GET', url: `${page}?${query}` });
      t.equal(response.statusCode, 200, `${page}?${query}: ${response.body.slice(0, 160)}`);
      return response.json<{ items: { item: { genres: string[]; type: string; language?: string } }[] }>()
        .items;
    };
    const horror = await ask('genre=Horror');
    t.ok(
      horror.length > 0 && horror.every((entry) => entry.item.genres.includes('Horror')),
      `${page}: genre`,
    );
    const series = await ask('type=series');
    t.ok(
      series.every((entry) => entry.item.type === 'series'),
      `${page}: type`,
    );
    t.same(await ask('types=series'), series, `${page}: types is the same filter`);
    const french = await ask('language=fr');
    t.ok(
      french.every((entry) => entry.item.language === 'fr'),
      `${page}: language`,
    );
    t.same(await ask('languages=fr'), french, `${page}: languages is the same filter`);
  }
});
