import t from 'tap';
import { buildTestApp, json } from '../helpers/test-app.ts';

// Issue 17: one documented score scale on every recommending endpoint: 0 to 1, the strongest item of the
// answer at 1, the others relative to it.

t.test('every recommending endpoint answers scores from 0 to 1, the strongest at 1', async (t) => {
  const { inject } = await buildTestApp(t);
  for (const [id, title, genres] of [
    ['m1', 'Alien', ['Horror', 'Sci-Fi']],
    ['m2', 'Aliens', ['Action', 'Sci-Fi']],
    ['m3', 'Alien 3', ['Horror', 'Sci-Fi']],
    ['m4', 'Heat', ['Crime']],
    ['m5', 'The Thing', ['Horror', 'Sci-Fi']],
  ] as const)
    await inject({
      method: 'PUT',
      url: `/v1/items/${id}`,
      ...json({ title, genres, description: `${title}: a film.` }),
    });
  const events = ['u1', 'u2', 'u3'].flatMap((userId) => [
    { userId, itemId: 'm1', type: 'complete' },
    { userId, itemId: 'm2', type: 'like' },
    { userId, itemId: userId === 'u3' ? 'm4' : 'm3', type: 'play' },
  ]);
  await inject({ method: 'POST', url: '/v1/events', ...json({ events }) });
  await inject({ method: 'POST', url: '/v1/admin/models/train' });

  const answers: [string, Parameters<typeof inject>[0]][] = [
    ['recommendations', { method: 'GET', url: '/v1/users/u1/recommendations?limit=5' }],
    ['session', { method: 'POST', url: '/v1/recommendations', ...json({ recentItemIds: ['m1'], limit: 5 }) }],
    ['similar', { method: 'GET', url: '/v1/items/m1/similar?limit=5' }],
    ['trending', { method: 'GET', url: '/v1/trending?limit=5' }],
    ['search', { method: 'POST', url: '/v1/search', ...json({ query: 'alien film', limit: 5 }) }],
    ['chat', { method: 'POST', url: '/v1/chat', ...json({ message: 'something with aliens', limit: 5 }) }],
  ];
  for (const [name, request] of answers) {
    const response = await inject(request);
    t.equal(response.statusCode, 200, `${name}: ${response.body.slice(0, 200)}`);
    const scores = response.json<{ items: { score: number }[] }>().items.map((item) => item.score);
    t.ok(scores.length > 0, `${name}: ${scores.length} items`);
    t.ok(
      scores.every((score) => score >= 0 && score <= 1),
      `${name}: every score in [0, 1]: ${scores.join(', ')}`,
    );
    t.equal(Math.max(...scores), 1, `${name}: the strongest item scores 1`);
  }
});
