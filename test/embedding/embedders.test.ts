import t from 'tap';
import { createLocalEmbedder, tokenize } from '../../src/embedding/local-embedder.ts';
import { planBatches } from '../../src/embedding/openai-embedder.ts';
import { asAdmin, buildTestApp, json } from '../helpers/test-app.ts';

const cosine = (a: Float32Array, b: Float32Array) =>
  a.reduce((sum, value, index) => sum + value * (b[index] ?? 0), 0);

t.test('the local embedder: unit vectors, semantic neighbours, exact names', async (t) => {
  const embedder = await createLocalEmbedder({
    provider: 'local',
    model: 'marquee-local-v1',
    dimension: 256,
  });
  const [heist, robbery, cooking, named, sameName] = await embedder.embed([
    'A crew of thieves plans a daring bank heist.',
    'Robbers break into a vault to steal gold.',
    'A chef bakes bread and cooks pasta in her kitchen.',
    'Starring Zyxwort Quendleby.',
    'A documentary with Zyxwort Quendleby.',
  ]);
  for (const vector of [heist, robbery, cooking]) {
    t.equal(vector?.length, 256);
    t.ok(Math.abs(cosine(vector!, vector!) - 1) < 1e-5, 'unit length');
  }
  t.ok(
    cosine(heist!, robbery!) > cosine(heist!, cooking!) + 0.1,
    `heist is closer to robbery (${cosine(heist!, robbery!).toFixed(3)}) than to cooking (${cosine(heist!, cooking!).toFixed(3)}) without sharing a word`,
  );
  t.ok(cosine(named!, sameName!) > 0.3, 'unknown names match through the hashed lexical features');
  const [again] = await embedder.embed(['A crew of thieves plans a daring bank heist.']);
  t.same(Array.from(again!), Array.from(heist!), 'deterministic');
  t.same(tokenize('Title: The Dark Knight\nGenres: Action, Crime'), [
    'the',
    'dark',
    'knight',
    'action',
    'crime',
  ]);
});

t.test('openai batches respect both the input count and the token budget', async (t) => {
  const texts = ['a'.repeat(40), 'b'.repeat(40), 'c'.repeat(400), 'd', 'e', 'f'];
  t.same(planBatches(texts, 2, 1_000), [
    [0, 1],
    [2, 3],
    [4, 5],
  ]);
  t.same(planBatches(texts, 100, 60), [[0, 1], [2], [3, 4, 5]]);
});

t.test('items are embedded after a write, once per distinct text', async (t) => {
  const { app, inject, database } = await buildTestApp(t);
  const embeddings = () =>
    database.db.selectFrom('item_embeddings').select(['item_id', 'content_hash', 'embedded_at']).execute();
  await inject({ method: 'PUT', url: '/v1/items/m1', ...json({ title: 'Alien', genres: ['horror'] }) });
  await app.embedding.idle();
  const first = await embeddings();
  t.equal(first.length, 1);
  const item = await database.db.selectFrom('items').select('embedding_text_hash').executeTakeFirstOrThrow();
  t.equal(first[0]?.content_hash, item.embedding_text_hash, 'the stored hash is the item text hash');

  await inject({ method: 'PUT', url: '/v1/items/m1', ...json({ title: 'Alien', genres: ['horror'] }) });
  await inject(
    asAdmin({ method: 'PATCH', url: '/v1/items/m1', ...json({ imageUrl: 'https://x.example/a.jpg' }) }),
  );
  await app.embedding.idle();
  t.same(
    await embeddings(),
    first,
    'an unchanged text (or a change to a field not embedded) is not embedded again',
  );

  await inject({
    method: 'PATCH',
    url: '/v1/items/m1',
    headers: { 'content-type': 'application/merge-patch+json' },
    payload: JSON.stringify({ description: 'In space no one can hear you scream.' }),
  });
  await app.embedding.idle();
  const after = await embeddings();
  t.not(after[0]?.content_hash, first[0]?.content_hash, 'a changed description is embedded again');
  const metrics = (await inject({ method: 'GET', url: '/metrics' })).body;
  t.match(metrics, /marquee_embedded_items_total\{provider="local"\} 2/);
});
