import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { formatEvaluationTable, runOfflineEvaluation } from '../../src/evaluation/offline-evaluation.ts';
import { testConfig } from '../helpers/test-app.ts';

// Two communities of taste on a small catalog: users of group A rate A items, group B rates B items, in a
// time order that holds out each user's last A (or B) items. Collaborative filtering must find them;
// popularity can only guess the overall favourites.
t.test('marquee eval runs the protocol through the import pipeline and the engine', async (t) => {
  const folder = await mkdtemp(join(tmpdir(), 'marquee-eval-'));
  t.teardown(() => rm(folder, { recursive: true, force: true }));
  const items = ['itemId,title,year,genres,overview'];
  for (let n = 0; n < 20; n++) {
    const group = n < 10 ? 'A' : 'B';
    items.push(
      `${n},Title ${n},${1990 + n},${group === 'A' ? 'Drama' : 'Comedy'},"A ${group === 'A' ? 'sad drama about loss' : 'funny comedy about friends'} number ${n}"`,
    );
  }
  const ratings = ['userId,itemId,rating,timestamp'];
  for (let u = 0; u < 30; u++) {
    const offset = u % 2 === 0 ? 0 : 10;
    // Each user rates 8 of the 10 items of their group, starting at a different one.
    for (let step = 0; step < 8; step++) {
      const item = offset + ((u + step) % 10);
      ratings.push(`${u},${item},${step % 3 === 0 ? 3 : 5},${1_000_000 + u * 100 + step}`);
    }
  }
  const itemsFile = join(folder, 'items.csv');
  const ratingsFile = join(folder, 'ratings.csv');
  await writeFile(itemsFile, `${items.join('\n')}\n`);
  await writeFile(ratingsFile, `${ratings.join('\n')}\n`);

  const report = await runOfflineEvaluation({
    ratingsFile,
    itemsFile,
    k: 5,
    config: testConfig({ MARQUEE_MODEL_REFRESH_MINUTES: '0' }),
  });
  t.equal(report.items, 20);
  t.equal(report.trainRatings, 30 * 6, 'the latest 20% of 8 (2) held out per user');
  const byName = new Map(report.rows.map((row) => [row.name, row]));
  t.same(
    [...byName.keys()],
    [
      'popularity',
      'item-kNN (cosine)',
      'content-only (vector)',
      'collaborative-only (item-knn)',
      'RP3beta',
      'EASE',
      'blend (default weights)',
      'learned ranker',
    ],
  );
  const knn = byName.get('item-kNN (cosine)')!;
  const popularity = byName.get('popularity')!;
  t.ok(knn.recall > popularity.recall, `item-kNN recall ${knn.recall} > popularity ${popularity.recall}`);
  t.ok(knn.recall > 0.9, `item-kNN finds the held-out items of the user's group (${knn.recall})`);
  t.ok(
    byName.get('blend (default weights)')!.recall >= knn.recall * 0.9,
    'the blend keeps what item-kNN finds',
  );
  t.ok(byName.get('learned ranker')!.trainSeconds > 0, 'the learned ranker row trained the ranker');
  t.ok(report.rows.every((row) => row.users === knn.users && row.users > 0));
  const table = formatEvaluationTable(report, 5);
  t.match(table, /\| item-kNN \(cosine\) \| 1\.000 \| \d\.\d{3} \|/);
});
