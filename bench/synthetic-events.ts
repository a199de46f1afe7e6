import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { syntheticItem } from './synthetic-catalog.ts';

/**
 * Synthetic viewing history for the items of synthetic-catalog.ts, for the recommendation benchmark:
 * deterministic (seeded), with
 *
 * - item popularity following a power law (Zipf, weight of the item at popularity rank r = r^-itemExponent),
 *   the ranks shuffled over the catalog so that popularity is unrelated to the item's index;
 * - skewed user activity (the user at activity rank r gets events in proportion to r^-userExponent, at
 *   least one each): with 20,000 users and 1M events, the busiest has about 16,000 and the median about 25;
 * - some taste: each user has one or two favourite genres, and 60 % of their events pick an item of one of
 *   them (still by popularity), the rest any item;
 * - timestamps uniform over the `days` before `now`, ascending within a user;
 * - types: view 25 %, play 33 %, complete 25 %, like 7 %, rate 7 % (0.5 to 5, mostly high), dislike 3 %.
 *
 * Written as NDJSON ordered by user, then time (`order: 'user'`), or by time over all users (`'time'`).
 */
export interface SyntheticEventsOptions {
  items: number;
  users: number;
  events: number;
  days?: number;
  now?: Date;
  itemExponent?: number;
  userExponent?: number;
  order?: 'user' | 'time';
  seed?: number;
}

const TYPES = ['view', 'play', 'complete', 'like', 'rate', 'dislike'] as const;
const TYPE_SHARES = [0.25, 0.33, 0.25, 0.07, 0.07, 0.03];
const FAVOURITE_GENRE_SHARE = 0.6;
const DAY_MS = 24 * 3600 * 1000;

/** mulberry32: small, fast, good enough for test data. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function shuffled(count: number, next: () => number): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** A sampler over `values` in proportion to `weights` (inverse CDF, binary search). */
function weightedSampler(values: Uint32Array, weights: Float64Array): (u: number) => number {
  const cumulative = new Float64Array(weights.length);
  let total = 0;
  for (let i = 0; i < weights.length; i++) cumulative[i] = total += weights[i]!;
  return (u) => {
    const target = u * total;
    let low = 0;
    let high = cumulative.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (cumulative[middle]! < target) low = middle + 1;
      else high = middle;
    }
    return values[low]!;
  };
}

export interface SyntheticEventsSummary {
  events: number;
  users: number;
  maxPerUser: number;
  medianPerUser: number;
  /** Share of all events that went to the 1 % most popular items. */
  topItemsShare: number;
}

/** Writes the events to `file` as NDJSON; user ids are `u-<n>`, item ids those of syntheticItem. */
export async function writeSyntheticEvents(
  file: string,
  options: SyntheticEventsOptions,
): Promise<SyntheticEventsSummary> {
  const {
    items,
    users,
    events,
    days = 90,
    now = new Date(),
    itemExponent = 1,
    userExponent = 0.7,
    order = 'user',
    seed = 42,
  } = options;
  const next = random(seed);

  // Popularity: rank -> item, and each genre's items with their global popularity weight.
  const itemAtRank = shuffled(items, next);
  const itemWeights = new Float64Array(items);
  const genreItems = new Map<string, { ids: number[]; weights: number[] }>();
  for (let rank = 0; rank < items; rank++) {
    const item = itemAtRank[rank]!;
    const weight = (rank + 1) ** -itemExponent;
    itemWeights[rank] = weight;
    for (const genre of syntheticItem(item).genres as string[]) {
      const entry = genreItems.get(genre) ?? { ids: [], weights: [] };
      entry.ids.push(item);
      entry.weights.push(weight);
      genreItems.set(genre, entry);
    }
  }
  const anyItem = weightedSampler(itemAtRank, itemWeights);
  const genres = [...genreItems.keys()].sort();
  const byGenre = genres.map((genre) => {
    const entry = genreItems.get(genre)!;
    return weightedSampler(Uint32Array.from(entry.ids), Float64Array.from(entry.weights));
  });

  // Activity: the user at activity rank r gets a share r^-userExponent of the events, at least one.
  const userAtRank = shuffled(users, next);
  const counts = new Uint32Array(users);
  let weightSum = 0;
  for (let rank = 0; rank < users; rank++) weightSum += (rank + 1) ** -userExponent;
  let assigned = 0;
  for (let rank = 0; rank < users; rank++) {
    const count = Math.max(1, Math.floor((events * (rank + 1) ** -userExponent) / weightSum));
    counts[userAtRank[rank]!] = count;
    assigned += count;
  }
  for (let rank = 0; assigned < events; rank = (rank + 1) % users, assigned++) counts[userAtRank[rank]!]!++;
  const total = assigned;

  const eventUser = new Uint32Array(total);
  const eventItem = new Uint32Array(total);
  const eventType = new Uint8Array(total);
  const eventValue = new Float32Array(total);
  const eventTime = new Float64Array(total);
  const start = now.getTime() - days * DAY_MS;
  const perItem = new Uint32Array(items);
  let at = 0;
  for (let user = 0; user < users; user++) {
    const favourites = Array.from({ length: 1 + Math.floor(next() * 2) }, () =>
      Math.floor(next() * genres.length),
    );
    const times = Array.from(
      { length: counts[user]! },
      () => start + Math.floor(next() * days * DAY_MS),
    ).sort((a, b) => a - b);
    for (const time of times) {
      const item =
        next() < FAVOURITE_GENRE_SHARE
          ? byGenre[favourites[Math.floor(next() * favourites.length)]!]!(next())
          : anyItem(next());
      let pick = next();
      let type = 0;
      while (type < TYPES.length - 1 && pick >= TYPE_SHARES[type]!) pick -= TYPE_SHARES[type++]!;
      eventUser[at] = user;
      eventItem[at] = item;
      eventType[at] = type;
      // Ratings lean high, as they do: 0.5 to 5 in halves, the square root pulling them up.
      eventValue[at] = TYPES[type] === 'rate' ? Math.max(1, Math.round(Math.sqrt(next()) * 10)) / 2 : 0;
      eventTime[at] = time;
      perItem[item]!++;
      at++;
    }
  }

  let sequence: Uint32Array | undefined;
  if (order === 'time') {
    sequence = new Uint32Array(total);
    for (let i = 0; i < total; i++) sequence[i] = i;
    sequence.sort((a, b) => eventTime[a]! - eventTime[b]! || a - b);
  }
  const out = createWriteStream(file);
  let chunk = '';
  for (let n = 0; n < total; n++) {
    const e = sequence ? sequence[n]! : n;
    const type = TYPES[eventType[e]!]!;
    const value = type === 'rate' ? `,"value":${eventValue[e]}` : '';
    chunk +=
      `{"id":"e-${e}","userId":"u-${eventUser[e]}","itemId":"syn-${eventItem[e]}","type":"${type}"` +
      `${value},"timestamp":"${new Date(eventTime[e]!).toISOString()}"}\n`;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');

  const sortedCounts = [...counts].sort((a, b) => a - b);
  const topItems = [...perItem].sort((a, b) => b - a).slice(0, Math.max(1, Math.floor(items / 100)));
  return {
    events: total,
    users,
    maxPerUser: sortedCounts.at(-1) ?? 0,
    medianPerUser: sortedCounts[Math.floor(users / 2)] ?? 0,
    topItemsShare: topItems.reduce((sum, count) => sum + count, 0) / total,
  };
}
