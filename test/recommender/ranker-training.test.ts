import t from 'tap';
import { LAMBDA_MART_DEFAULTS } from '../../src/recommender/ranking/lambda-mart.ts';
import {
  type LoggedInteraction,
  type ShownList,
  buildRankingCatalog,
  clickWeight,
  isHeldBack,
  promotionVerdict,
  shownListsDataset,
  trainRanker,
} from '../../src/recommender/ranking/ranker-training.ts';
import { RANKING_FEATURES, rankingRows } from '../../src/recommender/ranking/ranking-features.ts';

/**
 * 400 users, 60 items in three tastes of 20: each user watches 12 items of their taste (and 2 of the
 * others) in a random order, liking those of their taste.
 */
function syntheticLog(): LoggedInteraction[] {
  let seed = 99;
  const next = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
  const log: LoggedInteraction[] = [];
  for (let u = 0; u < 400; u++) {
    const taste = u % 3;
    const picks = new Set<number>();
    while (picks.size < 12) picks.add(taste * 20 + Math.floor(next() * 20));
    while (picks.size < 14) picks.add(Math.floor(next() * 60));
    [...picks].forEach((item, at) =>
      log.push({
        userId: `u${u}`,
        itemId: `i${item}`,
        time: Date.UTC(2026, 0, 1) + (u * 20 + at) * 60_000,
        rating: Math.floor(item / 20) === taste ? 1 : 0.4,
        liked: Math.floor(item / 20) === taste,
      }),
    );
  }
  return log;
}

const facts = {
  itemIds: Array.from({ length: 60 }, (_, i) => `i${i}`),
  genres: Array.from({ length: 60 }, (_, i) => [Math.floor(i / 20)]),
  releaseYears: Array.from({ length: 60 }, () => 2020),
};

t.test('trains on temporal cuts, holds a slice of users back, and reports against each source', async (t) => {
  const log = syntheticLog();
  const { model, report } = trainRanker(log, facts, {
    params: { ...LAMBDA_MART_DEFAULTS, trees: 40, patience: 20, minLeafRows: 20 },
  });
  t.same(model.features, RANKING_FEATURES, 'the model names its feature columns');
  t.equal(model.trees.width, RANKING_FEATURES.length);
  const heldBackUsers = new Set(log.map((event) => event.userId).filter(isHeldBack));
  t.ok(heldBackUsers.size > 40 && heldBackUsers.size < 120, `${heldBackUsers.size} of 400 users held back`);
  t.ok(
    report.queries > 300 && report.heldBackQueries > 0,
    `${report.queries} queries, ${report.heldBackQueries} held back`,
  );
  t.ok(
    report.heldBack['item-knn'] !== undefined && report.heldBack.ease !== undefined,
    'each source measured',
  );
  t.ok(
    report.heldBack.ranker >= report.heldBack['item-knn']! - 0.02,
    `ranker ${report.heldBack.ranker.toFixed(3)} against item-kNN ${report.heldBack['item-knn']!.toFixed(3)}`,
  );
  t.ok(report.heldBack.ranker > 0.3, 'it ranks the liked items of the taste high');
  t.ok(report.importance.length > 0 && report.importance.every((f) => f.share > 0 && f.share <= 1));
  // The synthetic users come one after another: the latest 10 % of the log are the last users' events, so
  // the held-back ones among them that also came before the cut make the later check.
  t.equal(report.laterQueries, 0, 'users one after another: too few held-back users span the global cut');
  t.equal(report.later, undefined);
  // The same users, their events interleaved in time: every user has events on both sides of the cut.
  const interleaved = log.map((event, at) => ({
    ...event,
    time: Date.UTC(2026, 0, 1) + ((at % 14) * 400 + Math.floor(at / 14)) * 60_000,
  }));
  const { report: spanning } = trainRanker(interleaved, facts, {
    params: { ...LAMBDA_MART_DEFAULTS, trees: 20, patience: 20, minLeafRows: 20 },
    cuts: 1,
  });
  t.ok(spanning.laterQueries > 10, `${spanning.laterQueries} held-back users on the global cut`);
  t.ok(
    spanning.later && spanning.later.ranker > 0 && spanning.later['item-knn'] !== undefined,
    'measured there',
  );
  const verdict = promotionVerdict({
    ...report,
    heldBackQueries: 30,
    heldBack: { ranker: 0.3, fusion: 0.2 },
    laterQueries: 25,
    later: { ranker: 0.1, fusion: 0.15, ease: 0.12 },
  });
  t.equal(verdict.serving, true, 'the global cut is reported, not deciding');
  t.match(verdict.verdict, /global cut in time \(25 held-back users\): 0\.100 against 0\.150 for fusion/);
});

t.test('the catalog: EASE up to its size, popularity, trending and ratings from the log', async (t) => {
  const log = syntheticLog();
  const { catalog, matrix } = buildRankingCatalog(log, facts);
  t.ok(catalog.sources['item-knn'] && catalog.sources.rp3beta && catalog.sources.ease);
  const i0 = matrix.itemIndex.get('i0')!;
  t.equal(catalog.popularity[i0], new Set(log.filter((e) => e.itemId === 'i0').map((e) => e.userId)).size);
  t.ok(catalog.rating && catalog.rating[i0]! > 0.4 && catalog.rating[i0]! < 1, 'shrunk mean rating');
  t.ok(catalog.trending[i0]! > 0);
});

t.test(
  'shown lists: one query per list with a click, clicks weighted by position, history before the list',
  async (t) => {
    const log = syntheticLog();
    const { catalog } = buildRankingCatalog(log, facts);
    const users = Array.from({ length: 400 }, (_, u) => `u${u}`);
    const kept = users.find((userId) => !isHeldBack(userId))!;
    const heldBack = users.find(isHeldBack)!;
    const events = log.filter((event) => event.userId === kept).sort((a, b) => a.time - b.time);
    // Shown after their 5th event: the 6th and later are not theirs yet.
    const time = events[5]!.time;
    const shownIds = ['i50', 'i51', 'i52', 'i53'].filter(
      (id) => !events.slice(0, 5).some((e) => e.itemId === id),
    );
    const list = (userId: string, clicked: boolean[]): ShownList => ({
      userId,
      time,
      itemIds: [...shownIds, 'not-in-catalog'],
      positions: [...shownIds, 'x'].map((_, at) => at + 3),
      clicked: [...clicked, true],
    });
    const clickedAt = 1;
    const clicks = shownIds.map((_, at) => at === clickedAt);
    const data = shownListsDataset(
      log,
      facts,
      catalog,
      [
        list(kept, clicks),
        list(
          kept,
          shownIds.map(() => false),
        ),
        list(heldBack, clicks),
      ],
      (userId) => !isHeldBack(userId),
    );
    t.equal(data.queryOffsets.length - 1, 1, "only the kept user's list with a click in the catalog");
    t.same([...data.labels], clicks.map(Number), 'labelled by the clicks, in the order shown');
    t.same(
      [...data.weights!].map((w) => w.toFixed(4)),
      clicks.map((clicked, at) => (clicked ? clickWeight(at + 3) : 1).toFixed(4)),
      "a click weighs the inverse of its position's examination chance",
    );
    t.ok(
      clickWeight(0) === 1 && clickWeight(9) > clickWeight(1) && clickWeight(1000) === 10,
      'weights grow, capped',
    );
    const history = events.slice(0, 5).map((event) => facts.itemIds.indexOf(event.itemId));
    const expected = rankingRows(
      catalog,
      { items: history, weights: history.map(() => 1), now: events[4]!.time },
      { perSource: 0, popular: 0, extra: shownIds.map((id) => facts.itemIds.indexOf(id)) },
    );
    t.same([...data.features], [...expected.features], 'features from the history before the list only');
  },
);

t.test('a training counts the shown lists it learned from', async (t) => {
  const log = syntheticLog();
  const lists: ShownList[] = Array.from({ length: 60 }, (_, u) => ({
    userId: `u${u}`,
    time: Date.UTC(2026, 0, 1) + (u * 20 + 7) * 60_000,
    itemIds: ['i1', 'i21', 'i41'],
    positions: [0, 1, 2],
    clicked: [u % 3 === 0, u % 3 === 1, u % 3 === 2],
  }));
  const { report } = trainRanker(log, facts, {
    params: { ...LAMBDA_MART_DEFAULTS, trees: 20, minLeafRows: 20 },
    cuts: 1,
    impressions: lists,
  });
  t.ok(report.impressionQueries > 30, `${report.impressionQueries} lists`);
  t.equal(report.clicks, report.impressionQueries, 'one click each');
});
