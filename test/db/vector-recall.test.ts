import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type Kysely, sql } from 'kysely';
import pgvector from 'pgvector';
import t from 'tap';
import type { Database } from '../../src/db/database.ts';
import {
  findNearestItemIds,
  type NearestItemsFilter,
  nearestItemsQuery,
} from '../../src/repositories/item-embeddings.repository.ts';
import { netflixMapParameter } from '../helpers/netflix.ts';
import { buildTestApp } from '../helpers/test-app.ts';

// How well the HNSW index (at the configured hnsw.ef_search) finds the true nearest neighbours of real
// embeddings: the netflix catalog, embedded by the local embedder, against exact search.

const NETFLIX = new URL('../../../shared/data/netflix/netflix_titles.csv', import.meta.url).pathname;
const SAMPLES = 50;
const PAGE = 10;

async function explain(db: Kysely<Database>, vector: number[], filter: NearestItemsFilter): Promise<string> {
  const rows = await nearestItemsQuery(db, vector, filter).explain<{ 'QUERY PLAN': string }>();
  return rows.map((row) => row['QUERY PLAN']).join('\n');
}

/** The same query with index scans off: a sequential scan and a sort, so exact. */
function exactNearest(db: Kysely<Database>, vector: number[], filter: NearestItemsFilter) {
  return db.transaction().execute(async (trx) => {
    await sql`SET LOCAL enable_indexscan = off`.execute(trx);
    return findNearestItemIds(trx, vector, filter);
  });
}

const TITLE = 'HNSW search on the netflix catalog: recall@10 against exact search, full filtered pages';

if (!existsSync(NETFLIX)) {
  t.skip(`${TITLE} (${NETFLIX} is absent)`, () => {});
} else {
  t.test(TITLE, async (t) => {
    const { inject, database } = await buildTestApp(t);
    const db = database.db;
    const map = await netflixMapParameter();
    const started = Date.now();
    const response = await inject({
      method: 'POST',
      url: `/v1/imports?kind=items&format=csv&wait=true&map=${encodeURIComponent(map)}`,
      payload: await readFile(NETFLIX),
      headers: { 'content-type': 'text/csv' },
    });
    t.equal(response.statusCode, 200, response.body);
    t.match(response.json(), { status: 'completed', counts: { received: 8807, embedded: 8807 } });
    t.comment(`imported and indexed 8807 titles in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const stored = await db
      .selectFrom('item_embeddings')
      .select(['item_id', sql<string>`embedding::text`.as('embedding')])
      .orderBy('item_id')
      .execute();
    const stride = Math.floor(stored.length / SAMPLES);
    const samples = Array.from({ length: SAMPLES }, (_, index) => stored[index * stride]).map((row) => ({
      id: row?.item_id ?? '',
      vector: pgvector.fromSql(row?.embedding ?? '[]') as number[],
    }));

    await t.test('searches run with the configured HNSW settings', async (t) => {
      const settings = await sql<{ efSearch: string; iterativeScan: string }>`
        SELECT current_setting('hnsw.ef_search') AS "efSearch",
          current_setting('hnsw.iterative_scan') AS "iterativeScan"`.execute(db);
      t.same(settings.rows, [{ efSearch: '100', iterativeScan: 'relaxed_order' }]);
    });

    await t.test('the index serves the search (EXPLAIN)', async (t) => {
      const [first] = samples;
      if (!first) throw new Error('no sample');
      t.match(
        await explain(db, first.vector, { limit: PAGE, excludeIds: [first.id] }),
        /item_embeddings_hnsw_idx/,
      );
      t.notMatch(
        await db.transaction().execute(async (trx) => {
          await sql`SET LOCAL enable_indexscan = off`.execute(trx);
          return explain(trx, first.vector, { limit: PAGE, excludeIds: [first.id] });
        }),
        /hnsw/,
        'the exact reference does not',
      );
    });

    await t.test(`mean recall@${PAGE} over ${SAMPLES} items is at least 0.95`, async (t) => {
      let hits = 0;
      let worst = 1;
      for (const sample of samples) {
        const filter = { limit: PAGE, excludeIds: [sample.id] };
        const approximate = await findNearestItemIds(db, sample.vector, filter);
        const exact = await exactNearest(db, sample.vector, filter);
        t.equal(exact.length, PAGE);
        // Equal distances (duplicate texts) make the exact top 10 ambiguous: any item as near as the 10th counts.
        const cutoff = (exact.at(-1)?.distance ?? 0) + 1e-6;
        const found = approximate.filter((item) => item.distance <= cutoff).length;
        hits += found;
        worst = Math.min(worst, found / PAGE);
      }
      const recall = hits / (SAMPLES * PAGE);
      t.comment(`recall@${PAGE} ${recall.toFixed(3)} (worst query ${worst.toFixed(1)})`);
      t.ok(recall >= 0.95, `recall@${PAGE} ${recall.toFixed(3)} >= 0.95`);
    });

    await t.test('filtered searches fill their pages thanks to the iterative scan', async (t) => {
      // A filter keeping 15% of the catalog, which the planner serves from the index; a narrower one it serves
      // by filtering first and sorting exactly.
      const filter = { limit: PAGE, type: 'series', genresAny: ['International TV Shows'] };
      const withoutIterativeScan = (sample: { id: string; vector: number[] }) =>
        db.transaction().execute(async (trx) => {
          await sql`SET LOCAL hnsw.iterative_scan = off`.execute(trx);
          return findNearestItemIds(trx, sample.vector, { ...filter, excludeIds: [sample.id] });
        });
      let hits = 0;
      let fullPages = 0;
      let fullPagesWithout = 0;
      for (const sample of samples) {
        const page = await findNearestItemIds(db, sample.vector, { ...filter, excludeIds: [sample.id] });
        const exact = await exactNearest(db, sample.vector, { ...filter, excludeIds: [sample.id] });
        const cutoff = (exact.at(-1)?.distance ?? 0) + 1e-6;
        hits += page.filter((item) => item.distance <= cutoff).length;
        if (page.length === PAGE) fullPages++;
        if ((await withoutIterativeScan(sample)).length === PAGE) fullPagesWithout++;
      }
      const recall = hits / (SAMPLES * PAGE);
      t.comment(
        `filtered: ${fullPages} of ${SAMPLES} pages full (${fullPagesWithout} without the iterative scan), recall@${PAGE} ${recall.toFixed(3)}`,
      );
      t.equal(fullPages, SAMPLES, 'every page is full');
      t.ok(fullPagesWithout < SAMPLES, 'some are not without the iterative scan');
      t.ok(recall >= 0.9, `filtered recall@${PAGE} ${recall.toFixed(3)} >= 0.9`);

      // A documentary film's neighbours are films: hardly any of the first candidates pass the filter.
      const documentary = samples.find((sample) => sample.id === 's1') ?? {
        id: 's1',
        vector: pgvector.fromSql(
          (
            await db
              .selectFrom('item_embeddings')
              .select(sql<string>`embedding::text`.as('embedding'))
              .where('item_id', '=', 's1')
              .executeTakeFirstOrThrow()
          ).embedding,
        ) as number[],
      };
      t.match(
        await explain(db, documentary.vector, filter),
        /item_embeddings_hnsw_idx/,
        'the planner walks the index',
      );
      t.equal((await findNearestItemIds(db, documentary.vector, filter)).length, PAGE, 'a full page');
      const short = await withoutIterativeScan(documentary);
      t.ok(short.length < PAGE, `without the iterative scan only ${short.length} of ${PAGE}`);
    });
  });
}
