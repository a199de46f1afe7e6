/**
 * The user × item interaction matrix the collaborative strategies train on: string ids mapped to dense
 * indices, stored twice (compressed by user and compressed by item) in typed arrays, so a strategy can walk
 * a user's items or an item's users without a hash lookup: 32 bytes per distinct (user, item) pair, so 32 MB
 * for 1M, plus the id maps.
 */

/** One observed interaction. `weight` defaults to 1; `time` is any monotonic unit (0 when unknown). */
export interface Interaction {
  userId: string;
  itemId: string;
  weight?: number;
  time?: number;
}

/**
 * One compressed axis: the entries of row r are at positions `ptr[r]` to `ptr[r + 1]` of `index` (the other
 * axis, ascending within a row), `weight` and `time`.
 */
export interface CompressedAxis {
  readonly ptr: Uint32Array;
  readonly index: Uint32Array;
  readonly weight: Float32Array;
  readonly time: Float64Array;
}

export interface InteractionMatrix {
  readonly userIds: readonly string[];
  readonly itemIds: readonly string[];
  readonly userIndex: ReadonlyMap<string, number>;
  readonly itemIndex: ReadonlyMap<string, number>;
  /** Distinct (user, item) pairs. */
  readonly nnz: number;
  /** CSR: row = user, index = item. */
  readonly byUser: CompressedAxis;
  /** CSC: row = item, index = user. */
  readonly byItem: CompressedAxis;
}

/** A user's items as a strategy scores them: item indices, with weights unless the strategy is binary. */
export interface UserHistory {
  readonly items: ArrayLike<number>;
  readonly weights?: ArrayLike<number>;
}

export interface BuildOptions {
  /**
   * Items to index first, in this order, whether or not anyone interacted with them (the catalog): keeps
   * indices stable across retrains and lets coverage count never-seen items.
   */
  itemIds?: Iterable<string>;
  /** Users to index first, in this order. */
  userIds?: Iterable<string>;
  /** How repeated (user, item) events combine: sum of weights (default), max, or the latest event's. */
  duplicates?: 'sum' | 'max' | 'last';
}

/**
 * Builds the matrix from interaction tuples. Cost: O(events + users + items) time (two counting sorts),
 * no comparison sort.
 */
export function buildInteractionMatrix(
  interactions: Iterable<Interaction>,
  options: BuildOptions = {},
): InteractionMatrix {
  const userIndex = new Map<string, number>();
  const itemIndex = new Map<string, number>();
  const userIds: string[] = [];
  const itemIds: string[] = [];
  const intern = internId;
  for (const id of options.itemIds ?? []) intern(itemIds, itemIndex, id);
  for (const id of options.userIds ?? []) intern(userIds, userIndex, id);

  const users: number[] = [];
  const items: number[] = [];
  const weights: number[] = [];
  const times: number[] = [];
  for (const event of interactions) {
    users.push(intern(userIds, userIndex, event.userId));
    items.push(intern(itemIds, itemIndex, event.itemId));
    weights.push(event.weight ?? 1);
    times.push(event.time ?? 0);
  }
  const events = users.length;

  // Stable counting sort by item, then by user: rows come out grouped by user, items ascending, and
  // duplicates of one pair adjacent in input order.
  const byItemOrder = countingSort(items, itemIds.length, identityOrder(events));
  const order = countingSort(users, userIds.length, byItemOrder);

  const mode = options.duplicates ?? 'sum';
  const rowUser = new Uint32Array(events);
  const index = new Uint32Array(events);
  const weight = new Float32Array(events);
  const time = new Float64Array(events);
  let nnz = 0;
  for (let n = 0; n < events; n++) {
    const e = order[n]!;
    const u = users[e]!;
    const i = items[e]!;
    const w = weights[e]!;
    const t = times[e]!;
    if (nnz > 0 && rowUser[nnz - 1] === u && index[nnz - 1] === i) {
      const at = nnz - 1;
      if (mode === 'sum') weight[at] = weight[at]! + w;
      else if (mode === 'max') weight[at] = Math.max(weight[at]!, w);
      else if (t >= time[at]!) weight[at] = w;
      time[at] = Math.max(time[at]!, t);
      continue;
    }
    rowUser[nnz] = u;
    index[nnz] = i;
    weight[nnz] = w;
    time[nnz] = t;
    nnz++;
  }
  return assemble(userIds, itemIds, userIndex, itemIndex, rowUser.subarray(0, nnz), {
    index: index.slice(0, nnz),
    weight: weight.slice(0, nnz),
    time: time.slice(0, nnz),
  });
}

/** The dense index of `id` in `ids`, appending it (and recording it in `index`) the first time it is seen. */
export function internId(ids: string[], index: Map<string, number>, id: string): number {
  let at = index.get(id);
  if (at === undefined) {
    at = ids.length;
    index.set(id, at);
    ids.push(id);
  }
  return at;
}

/** The row of user `u`: views into the matrix, not copies. */
export function userRow(
  matrix: InteractionMatrix,
  u: number,
): { items: Uint32Array; weights: Float32Array; times: Float64Array } {
  const { index, weights, times } = axisRow(matrix.byUser, u);
  return { items: index, weights, times };
}

/** The column of item `i`: views into the matrix, not copies. */
export function itemColumn(
  matrix: InteractionMatrix,
  i: number,
): { users: Uint32Array; weights: Float32Array; times: Float64Array } {
  const { index, weights, times } = axisRow(matrix.byItem, i);
  return { users: index, weights, times };
}

/** A user's history by id, empty for a user the matrix does not know. */
export function userHistory(
  matrix: InteractionMatrix,
  userId: string,
): { items: Uint32Array; weights: Float32Array } {
  const u = matrix.userIndex.get(userId);
  if (u === undefined) return { items: new Uint32Array(0), weights: new Float32Array(0) };
  const row = userRow(matrix, u);
  return { items: row.items, weights: row.weights };
}

/** Interactions per item (distinct users), O(items). */
export function itemDegrees(matrix: InteractionMatrix): Uint32Array {
  const degrees = new Uint32Array(matrix.itemIds.length);
  const ptr = matrix.byItem.ptr;
  for (let i = 0; i < degrees.length; i++) degrees[i] = ptr[i + 1]! - ptr[i]!;
  return degrees;
}

/**
 * Keeps at most `maxItems` per user, their latest by time: bounds the O(Σ history²) cost of item-item
 * strategies, which one user with 50,000 events (a bot, a shared account) would otherwise dominate.
 * Returns the same matrix when no user exceeds the cap. O(nnz + capped rows × log).
 */
export function capUserHistories(matrix: InteractionMatrix, maxItems: number): InteractionMatrix {
  const { ptr, index, weight, time } = matrix.byUser;
  const nUsers = matrix.userIds.length;
  let kept = 0;
  for (let u = 0; u < nUsers; u++) kept += Math.min(maxItems, ptr[u + 1]! - ptr[u]!);
  if (kept === matrix.nnz) return matrix;

  const rowUser = new Uint32Array(kept);
  const out = { index: new Uint32Array(kept), weight: new Float32Array(kept), time: new Float64Array(kept) };
  let at = 0;
  for (let u = 0; u < nUsers; u++) {
    const start = ptr[u]!;
    const end = ptr[u + 1]!;
    let positions = Array.from({ length: end - start }, (_, n) => start + n);
    if (positions.length > maxItems) {
      positions = positions
        .sort((a, b) => time[b]! - time[a]! || index[a]! - index[b]!)
        .slice(0, maxItems)
        .sort((a, b) => index[a]! - index[b]!);
    }
    for (const p of positions) {
      rowUser[at] = u;
      out.index[at] = index[p]!;
      out.weight[at] = weight[p]!;
      out.time[at] = time[p]!;
      at++;
    }
  }
  return assemble(matrix.userIds, matrix.itemIds, matrix.userIndex, matrix.itemIndex, rowUser, out);
}

function axisRow(axis: CompressedAxis, row: number) {
  const start = axis.ptr[row]!;
  const end = axis.ptr[row + 1]!;
  return {
    index: axis.index.subarray(start, end),
    weights: axis.weight.subarray(start, end),
    times: axis.time.subarray(start, end),
  };
}

/** Builds both axes from entries sorted by (user, item). */
function assemble(
  userIds: readonly string[],
  itemIds: readonly string[],
  userIndex: ReadonlyMap<string, number>,
  itemIndex: ReadonlyMap<string, number>,
  rowUser: Uint32Array,
  entries: { index: Uint32Array; weight: Float32Array; time: Float64Array },
): InteractionMatrix {
  const nnz = rowUser.length;
  const userPtr = new Uint32Array(userIds.length + 1);
  for (let n = 0; n < nnz; n++) userPtr[rowUser[n]! + 1]!++;
  for (let u = 0; u < userIds.length; u++) userPtr[u + 1]! += userPtr[u]!;

  // Walking rows in user order fills each item's column with users ascending.
  const itemPtr = new Uint32Array(itemIds.length + 1);
  for (let n = 0; n < nnz; n++) itemPtr[entries.index[n]! + 1]!++;
  for (let i = 0; i < itemIds.length; i++) itemPtr[i + 1]! += itemPtr[i]!;
  const next = itemPtr.slice(0, itemIds.length);
  const byItem = { index: new Uint32Array(nnz), weight: new Float32Array(nnz), time: new Float64Array(nnz) };
  for (let n = 0; n < nnz; n++) {
    const at = next[entries.index[n]!]!++;
    byItem.index[at] = rowUser[n]!;
    byItem.weight[at] = entries.weight[n]!;
    byItem.time[at] = entries.time[n]!;
  }
  return {
    userIds,
    itemIds,
    userIndex,
    itemIndex,
    nnz,
    byUser: { ptr: userPtr, ...entries },
    byItem: { ptr: itemPtr, ...byItem },
  };
}

function identityOrder(length: number): Uint32Array {
  const order = new Uint32Array(length);
  for (let n = 0; n < length; n++) order[n] = n;
  return order;
}

/** Stable counting sort of the positions in `order` by `keys[position]`, keys in [0, buckets). */
function countingSort(keys: readonly number[], buckets: number, order: Uint32Array): Uint32Array {
  const start = new Uint32Array(buckets + 1);
  for (let n = 0; n < order.length; n++) start[keys[order[n]!]! + 1]!++;
  for (let b = 0; b < buckets; b++) start[b + 1]! += start[b]!;
  const sorted = new Uint32Array(order.length);
  for (let n = 0; n < order.length; n++) sorted[start[keys[order[n]!]!]!++] = order[n]!;
  return sorted;
}
