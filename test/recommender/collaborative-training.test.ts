import t from 'tap';
import {
  type CollaborativeTrainingInput,
  trainNeighbourLists,
} from '../../src/recommender/collaborative-training.ts';
import { startTrainingThread } from '../../src/recommender/collaborative-training.thread.ts';

/** Users 0-29 each take items (u mod 5) and (u mod 5) + 1: neighbouring items share users. */
function input(model: CollaborativeTrainingInput['model'] = 'item-knn'): CollaborativeTrainingInput {
  const users: number[] = [];
  const items: number[] = [];
  for (let u = 0; u < 30; u++)
    for (const i of [u % 5, (u % 5) + 1]) {
      users.push(u);
      items.push(i);
    }
  // Longer arrays than the events, as the service's growing buffers are: only `events` count.
  const eventUsers = new Uint32Array(users.length + 7);
  eventUsers.set(users);
  const eventItems = new Uint32Array(items.length + 7);
  eventItems.set(items);
  return {
    model,
    neighbours: 3,
    userIds: Array.from({ length: 30 }, (_, u) => `u${u}`),
    itemIds: Array.from({ length: 6 }, (_, i) => `i${i}`),
    events: users.length,
    eventUsers,
    eventItems,
    eventTimes: new Float64Array(users.length + 7),
  };
}

t.test('neighbour lists: each item’s neighbours share its users, best first', async (t) => {
  const lists = trainNeighbourLists(input());
  t.match(lists, { model: 'item-knn', easeTooLarge: false, users: 30, items: 6, pairs: 60 });
  const of = (i: number) => [...lists.neighbourIndices.subarray(lists.offsets[i], lists.offsets[i + 1])];
  t.same(of(0), [1], 'i0 shares users with i1 only');
  t.same(of(2).sort(), [1, 3]);
  t.ok(lists.scores.every((score) => score > 0));
});

t.test('on a thread of its own: the same lists; the input is transferred', async (t) => {
  for (const model of ['item-knn', 'rp3beta', 'ease'] as const) {
    const here = trainNeighbourLists(input(model));
    const sent = input(model);
    const thread = startTrainingThread(sent);
    t.same(await thread.lists, here, model);
    t.equal(await thread.ranker, undefined, 'no ranker was asked for');
    t.equal(sent.eventUsers.length, 0, 'the events buffer moved to the thread');
  }
});

t.test('an abort ends the thread and rejects with the reason', async (t) => {
  const controller = new AbortController();
  const training = startTrainingThread(input(), controller.signal);
  controller.abort(new Error('the server is shutting down'));
  await t.rejects(training.lists, { message: 'the server is shutting down' });
  await t.rejects(training.ranker, { message: 'the server is shutting down' });
  const aborted = AbortSignal.abort(new Error('before it started'));
  await t.rejects(startTrainingThread(input(), aborted).lists, { message: 'before it started' });
});

t.test('with a ranker asked for: the lists first, then the ranker and its catalog artefact', async (t) => {
  const sent = input();
  const length = sent.eventUsers.length;
  const thread = startTrainingThread({
    ...sent,
    ranker: {
      eventRatings: new Float32Array(length).fill(Number.NaN),
      eventLiked: new Uint8Array(length).fill(1),
      itemGenres: sent.itemIds.map((_, i) => [i % 2]),
      itemYears: new Float32Array(sent.itemIds.length).fill(2020),
    },
  });
  const order: string[] = [];
  await Promise.all([
    thread.lists.then(() => order.push('lists')),
    thread.ranker.then(() => order.push('ranker')),
  ]);
  t.same(order, ['lists', 'ranker']);
  const ranker = await thread.ranker;
  t.ok(ranker && ranker.model.features.length > 0 && ranker.artifact.length > 0);
  t.type(ranker?.report.heldBack.ranker, 'number');
});
