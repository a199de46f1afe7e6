import t from 'tap';
import {
  buildProfile,
  itemWeights,
  PROFILE_HISTORY_SIZE,
  type ProfileEvent,
  type ProfileOptions,
} from '../../src/recommender/profile.ts';

const DAY = 86_400_000;
const OPTIONS: ProfileOptions = {
  eventWeights: { complete: 1, like: 1, rate: 1, progress: 0.3, play: 0.4, skip: -0.5, dislike: -1 },
  halfLifeDays: 90,
  interests: 3,
};

const event = (
  itemId: string,
  type: string,
  at: Date | number,
  value: number | null = null,
): ProfileEvent => ({
  itemId,
  type,
  value,
  occurredAt: new Date(at),
});

/** A unit vector near axis `axis` of an 8-dimensional space, tilted by `wobble` along axis `toward`. */
function near(axis: number, wobble = 0, toward = 7): Float32Array {
  const vector = new Float32Array(8);
  vector[axis] = 1;
  vector[toward] = (vector[toward] ?? 0) + wobble;
  const length = Math.hypot(...vector);
  return vector.map((value) => value / length);
}

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let sum = 0;
  for (let d = 0; d < a.length; d++) sum += a[d]! * b[d]!;
  return sum;
};

t.test(
  'decay runs from the user’s own latest event, so an old imported history keeps its shape',
  async (t) => {
    const old = Date.UTC(2010, 5, 1);
    const recent = Date.UTC(2024, 5, 1);
    const history = (latest: number) => [
      event('a', 'complete', latest),
      event('b', 'complete', latest - 90 * DAY),
      event('c', 'complete', latest - 180 * DAY),
    ];
    const fromOld = itemWeights(history(old), OPTIONS);
    t.same(Object.fromEntries(fromOld), { a: 1, b: 0.5, c: 0.25 }, 'one half-life older weighs half');
    t.same(itemWeights(history(recent), OPTIONS), fromOld, 'the calendar year does not matter');
    t.same(buildProfile(history(old), new Map(), OPTIONS).history, [
      { itemId: 'a', weight: 1 },
      { itemId: 'b', weight: 0.5 },
      { itemId: 'c', weight: 0.25 },
    ]);
  },
);

t.test('ratings are centred on the user’s own mean, shrunk toward 3', async (t) => {
  const at = Date.UTC(2024, 0, 1);
  // Mean (5 + 4 + 2 + 1 + 2 × 3) / (4 + 2) = 3.
  const weights = itemWeights(
    [
      event('a', 'rate', at, 5),
      event('b', 'rate', at, 4),
      event('c', 'rate', at, 2),
      event('d', 'rate', at, 1),
    ],
    OPTIONS,
  );
  t.same(Object.fromEntries(weights), { a: 1, b: 0.5, c: -0.5, d: -1 });

  const single = itemWeights([event('a', 'rate', at, 5)], OPTIONS);
  t.equal(single.get('a')?.toFixed(4), '0.6667', 'a single 5-star rating is positive: (5 − 11/3) / 2');

  // A generous rater: mean (5 × 4 + 3 + 6) / 7 = 29/7 ≈ 4.14, so their 3 is a mild dislike.
  const generous = itemWeights(
    ['a', 'b', 'c', 'd'].map((id) => event(id, 'rate', at, 5)).concat(event('e', 'rate', at, 3)),
    OPTIONS,
  );
  t.ok(generous.get('e')! < 0, 'below the user’s own mean counts against');
  t.ok(generous.get('a')! > 0);

  const rerated = itemWeights([event('a', 'rate', at, 1), event('a', 'rate', at + DAY, 5)], OPTIONS);
  t.equal(rerated.get('a')?.toFixed(4), '0.6667', 'only the latest rating of an item counts');
});

t.test('progress weighs by the share watched; unknown event types count for nothing', async (t) => {
  const at = Date.UTC(2024, 0, 1);
  const weights = itemWeights(
    [event('most', 'progress', at, 0.9), event('little', 'progress', at, 0.1), event('x', 'teleport', at)],
    OPTIONS,
  );
  t.equal(weights.get('most')?.toFixed(4), '0.2700', '0.3 × 0.9');
  t.equal(weights.get('little')?.toFixed(4), '0.0300', '0.3 × 0.1');
  t.notOk(weights.has('x'));
  const summed = itemWeights(
    [event('a', 'play', at), event('a', 'complete', at), event('a', 'like', at)],
    OPTIONS,
  );
  t.equal(summed.get('a')?.toFixed(4), '2.4000', 'an item’s events add up');
});

t.test('dislikes make a negative direction, kept out of the interests', async (t) => {
  const at = Date.UTC(2024, 0, 1);
  const embeddings = new Map([
    ['liked-1', near(0, 0.1, 5)],
    ['liked-2', near(0, 0.1, 6)],
    ['hated-1', near(3, 0.2, 5)],
    ['hated-2', near(3, 0.2, 6)],
    ['skipped', near(3)],
  ]);
  const profile = buildProfile(
    [
      event('liked-1', 'like', at),
      event('liked-2', 'complete', at),
      event('hated-1', 'dislike', at),
      event('hated-2', 'dislike', at - DAY),
      event('skipped', 'skip', at),
    ],
    embeddings,
    OPTIONS,
  );
  t.equal(profile.interests.length, 1);
  t.same(profile.interests[0]?.itemIds, ['liked-1', 'liked-2']);
  t.ok(profile.negative, 'there is a negative direction');
  t.same(profile.negative?.itemIds, ['hated-1', 'hated-2', 'skipped'], 'heaviest dislike first');
  t.ok(cosine(profile.negative!.vector, near(3)) > 0.95, 'it points at what was disliked');
  t.ok(cosine(profile.interests[0]!.vector, near(0)) > 0.95, 'the interest points at what was liked');
  t.ok(profile.negative!.weight > 2, 'its weight is the total of the dislikes, as a magnitude');
  t.same(
    profile.history.filter((entry) => entry.weight < 0).map((entry) => entry.itemId),
    ['hated-1', 'hated-2', 'skipped'],
    'the history keeps dislikes, signed',
  );
  t.equal(buildProfile([event('liked-1', 'like', at)], embeddings, OPTIONS).negative, null);
});

t.test('two distinct tastes make two interests, each with its own items, heaviest first', async (t) => {
  const at = Date.UTC(2024, 0, 1);
  const embeddings = new Map<string, Float32Array>();
  const events: ProfileEvent[] = [];
  for (let n = 0; n < 4; n++) {
    embeddings.set(`space-${n}`, near(1, 0.1 * n, 4 + n));
    embeddings.set(`food-${n}`, near(2, 0.1 * n, 4 + n));
    // Space is liked and finished; food only finished: space is the heavier taste.
    events.push(event(`space-${n}`, 'like', at - n * DAY), event(`space-${n}`, 'complete', at - n * DAY));
    events.push(event(`food-${n}`, 'complete', at - n * DAY));
  }
  // 8 items: room for 2 interests of at least 3 items, though 3 are allowed.
  const profile = buildProfile(events, embeddings, OPTIONS);
  t.same(
    profile.interests.map((interest) => interest.itemIds),
    [
      ['space-0', 'space-1', 'space-2', 'space-3'],
      ['food-0', 'food-1', 'food-2', 'food-3'],
    ],
  );
  t.ok(profile.interests[0]!.weight > profile.interests[1]!.weight);
  t.ok(cosine(profile.interests[0]!.vector, near(1)) > 0.9);
  t.ok(cosine(profile.interests[1]!.vector, near(2)) > 0.9);
  for (const interest of profile.interests) {
    t.equal(interest.vector.length, 8);
    t.ok(Math.abs(Math.hypot(...interest.vector) - 1) < 1e-4, 'a unit vector');
    t.ok(
      interest.vector.every((value) => Number(value.toFixed(5)) === value),
      'rounded to 5 decimals',
    );
  }

  const single = buildProfile(events, embeddings, { ...OPTIONS, interests: 1 });
  t.equal(single.interests.length, 1, 'never more interests than allowed');
  t.equal(single.interests[0]?.itemIds.length, 5, 'an interest names its 5 heaviest items');

  const few = buildProfile(
    events.filter((e) => /-[01]$/.test(e.itemId)),
    embeddings,
    OPTIONS,
  );
  t.equal(few.interests.length, 1, '4 items are too few for 2 interests of 3 items');
});

t.test(
  'a cluster with under 10% of the weight is dropped; items without an embedding are only history',
  async (t) => {
    const at = Date.UTC(2024, 0, 1);
    const embeddings = new Map<string, Float32Array>();
    const events: ProfileEvent[] = [];
    for (let n = 0; n < 6; n++) {
      // One direction: k-means has nothing to split here, so the spare centres go to the side items.
      embeddings.set(`main-${n}`, near(0));
      events.push(event(`main-${n}`, 'like', at), event(`main-${n}`, 'complete', at));
    }
    for (let n = 0; n < 3; n++) {
      embeddings.set(`side-${n}`, near(1, 0.05 * n, 4 + n));
      events.push(event(`side-${n}`, 'progress', at, 0.1));
    }
    events.push(event('no-vector', 'like', at));
    const profile = buildProfile(events, embeddings, OPTIONS);
    t.equal(profile.interests.length, 1, 'the side interest (0.09 of 12.09) is noise');
    t.notOk(profile.interests[0]?.itemIds.some((id) => id.startsWith('side')));
    t.ok(
      profile.history.some((entry) => entry.itemId === 'no-vector'),
      'an item without an embedding is still in the history',
    );
    t.notOk(profile.interests.some((interest) => interest.itemIds.includes('no-vector')));
  },
);

t.test('deterministic: the same events in any order give the same profile', async (t) => {
  const at = Date.UTC(2024, 0, 1);
  const embeddings = new Map<string, Float32Array>();
  const events: ProfileEvent[] = [];
  for (let n = 0; n < 12; n++) {
    embeddings.set(`i-${n}`, near(n % 3, 0.3, 3 + (n % 5)));
    events.push(event(`i-${n}`, n % 4 === 0 ? 'dislike' : 'complete', at - (n % 3) * DAY));
    events.push(event(`i-${n}`, 'rate', at - n * 3_600_000, 1 + (n % 5)));
  }
  // Equal weights everywhere too: ties are broken by item id.
  const first = buildProfile(events, embeddings, OPTIONS);
  const shuffled = events.map((e, index) => ({ e, key: (index * 7919) % events.length }));
  shuffled.sort((a, b) => a.key - b.key);
  const again = buildProfile(
    shuffled.map(({ e }) => e),
    new Map([...embeddings].reverse()),
    OPTIONS,
  );
  t.equal(JSON.stringify(again), JSON.stringify(first));
  t.ok(first.interests.length > 0);
});

t.test('the history keeps the heaviest 200 items, signed and rounded', async (t) => {
  const at = Date.UTC(2024, 0, 1);
  const events = Array.from({ length: 250 }, (_, n) =>
    event(`item-${String(n).padStart(3, '0')}`, n % 2 ? 'complete' : 'skip', at - n * DAY),
  );
  const { history } = buildProfile(events, new Map(), OPTIONS);
  t.equal(history.length, PROFILE_HISTORY_SIZE);
  t.same(history.slice(0, 3), [
    { itemId: 'item-001', weight: 0.9923 },
    { itemId: 'item-003', weight: 0.9772 },
    { itemId: 'item-005', weight: 0.9622 },
  ]);
  t.ok(
    history.every(
      (entry, index) => index === 0 || Math.abs(history[index - 1]!.weight) >= Math.abs(entry.weight),
    ),
    'heaviest first by magnitude',
  );
  t.ok(history.some((entry) => entry.weight < 0));
  t.ok(history.every((entry) => Number(entry.weight.toFixed(4)) === entry.weight));
  t.same(buildProfile([], new Map(), OPTIONS), {
    interests: [],
    negative: null,
    history: [],
    interactions: [],
  });
});
