/**
 * LambdaMART (Burges 2010): gradient-boosted regression trees fitted to LambdaRank gradients, so that each
 * tree moves the ranking of every query (a user's candidates) towards a higher NDCG. Histogram-based,
 * leaf-wise growth on typed arrays (the LightGBM recipe), with early stopping on validation queries.
 *
 * Written here because no maintained JavaScript library trains a ranking objective: ml-cart and
 * ml-random-forest fit CART regression on plain arrays (no gradients, no histograms: minutes for the
 * 500,000 rows a training takes), xgboost-scorer only scores, and the native LightGBM and XGBoost bindings
 * on the registry download or compile their engines at install time. Pure and synchronous; the worker runs
 * it off the request path.
 */

/** Candidates grouped by query: query q is rows `queryOffsets[q]` to `queryOffsets[q + 1]`. */
export interface RankingDataset {
  /** Row-major: row r's feature f is `features[r * width + f]`. NaN means missing. */
  features: Float32Array;
  width: number;
  /** Graded relevance, 0 for irrelevant. */
  labels: Float32Array;
  queryOffsets: Uint32Array;
  /**
   * Per row, how much its pairs count when it is the more relevant row of the pair (1 without): inverse
   * propensity weights for clicks, so a click low on a page counts for the examinations it did not get.
   */
  weights?: Float32Array | undefined;
}

export interface LambdaMartParams {
  /** Most trees; early stopping may keep fewer. */
  trees: number;
  learningRate: number;
  leaves: number;
  /** Least rows a leaf may hold. */
  minLeafRows: number;
  /** L2 penalty on leaf values. */
  l2: number;
  /** Histogram bins per feature (at most 255). */
  bins: number;
  /** NDCG cut-off that validation (early stopping) measures. */
  k: number;
  /** Trees without a validation gain before training stops. */
  patience: number;
}

export const LAMBDA_MART_DEFAULTS: LambdaMartParams = {
  trees: 400,
  learningRate: 0.05,
  leaves: 15,
  minLeafRows: 50,
  l2: 1,
  bins: 63,
  k: 10,
  // The held-back slice is small on small logs (180 users on movielens-100k): its NDCG is noisy from one
  // tree to the next, and a short patience stops at a chance peak (20 trees instead of 250).
  patience: 100,
};

/**
 * The trees, flattened: node n splits on `feature[n]` (rows whose value is at most `threshold[n]`, or
 * missing, go to `left[n]`, the others to `right[n]`), or is a leaf (`feature[n] === -1`) worth `value[n]`.
 * A split node's `value` is what it would have been worth as a leaf (its rows' Newton step): scoring never
 * reads it, attribution does (featureContributions). Tree t starts at node `roots[t]`. Plain arrays, so it
 * is stored as JSON.
 */
export interface TreeEnsemble {
  width: number;
  /** The starting score the trees refine: Σ_f base[f] · x_f over present features (missing counts 0). */
  base: number[];
  roots: number[];
  feature: number[];
  threshold: number[];
  left: number[];
  right: number[];
  value: number[];
}

export interface LambdaMartResult {
  model: TreeEnsemble;
  /** Validation NDCG@k after each tree (empty without validation queries). */
  validationCurve: number[];
  /** Validation NDCG@k of the model kept, and with no tree at all (the rows' given order). */
  validationNdcg: number | undefined;
}

export function scoreRow(model: TreeEnsemble, features: ArrayLike<number>, offset = 0): number {
  let score = baseScore(model.base, features, offset);
  const { feature, threshold, left, right, value } = model;
  for (const root of model.roots) {
    let node = root;
    while (feature[node]! >= 0) {
      const x = features[offset + feature[node]!]!;
      node = x <= threshold[node]! || Number.isNaN(x) ? left[node]! : right[node]!;
    }
    score += value[node]!;
  }
  return score;
}

function baseScore(base: readonly number[], features: ArrayLike<number>, offset: number): number {
  let score = 0;
  for (let f = 0; f < base.length; f++) {
    const weight = base[f]!;
    if (weight === 0) continue;
    const x = features[offset + f]!;
    if (!Number.isNaN(x)) score += weight * x;
  }
  return score;
}

/**
 * How much each feature moved one row's score (Saabas attribution): the linear base's term of each present
 * feature, plus, along the row's path through each tree, the change of node value at each split credited
 * to the split's feature. The contributions and the trees' root values add up to the score.
 */
export function featureContributions(
  model: TreeEnsemble,
  features: ArrayLike<number>,
  offset = 0,
): Float64Array {
  const contributions = new Float64Array(model.width);
  for (let f = 0; f < model.base.length; f++) {
    const x = features[offset + f]!;
    if (model.base[f] !== 0 && !Number.isNaN(x)) contributions[f]! += model.base[f]! * x;
  }
  const { feature, threshold, left, right, value } = model;
  for (const root of model.roots) {
    let node = root;
    while (feature[node]! >= 0) {
      const f = feature[node]!;
      const x = features[offset + f]!;
      const next = x <= threshold[node]! || Number.isNaN(x) ? left[node]! : right[node]!;
      contributions[f]! += value[next]! - value[node]!;
      node = next;
    }
  }
  return contributions;
}

/** Scores of every row of a dataset-shaped feature block. */
export function scoreRows(model: TreeEnsemble, features: Float32Array, width: number): Float64Array {
  const rows = features.length / width;
  const scores = new Float64Array(rows);
  for (let r = 0; r < rows; r++) scores[r] = scoreRow(model, features, r * width);
  return scores;
}

/** Per-feature gain summed over every split: which features the model leans on. */
export function featureImportance(model: TreeEnsemble, gains: readonly number[]): Float64Array {
  const importance = new Float64Array(model.width);
  model.feature.forEach((f, node) => {
    if (f >= 0) importance[f]! += gains[node] ?? 0;
  });
  return importance;
}

export function trainLambdaMart(
  train: RankingDataset,
  validation: RankingDataset | undefined,
  params: LambdaMartParams = LAMBDA_MART_DEFAULTS,
  base: readonly number[] = [],
): LambdaMartResult & { gains: number[] } {
  const { width } = train;
  const rows = train.labels.length;
  const binning = buildBins(train, Math.min(255, params.bins));
  const binned = binRows(train, binning);
  const scores = new Float64Array(rows);
  for (let r = 0; r < rows; r++) scores[r] = baseScore(base, train.features, r * width);
  const gradients = new Float64Array(rows);
  const hessians = new Float64Array(rows);
  const model: TreeEnsemble = {
    width,
    base: [...base],
    roots: [],
    feature: [],
    threshold: [],
    left: [],
    right: [],
    value: [],
  };
  const gains: number[] = [];
  const validationScores = validation
    ? Float64Array.from({ length: validation.labels.length }, (_, r) =>
        baseScore(base, validation.features, r * width),
      )
    : undefined;
  const validationCurve: number[] = [];
  let best = validation && validationScores ? meanNdcg(validation, validationScores, params.k) : -Infinity;
  const baseline = validation ? best : undefined;
  let bestTrees = 0;
  const rowIndex = new Uint32Array(rows);

  for (let t = 0; t < params.trees; t++) {
    lambdaGradients(train, scores, gradients, hessians);
    const root = model.feature.length;
    growTree(binned, binning, gradients, hessians, rowIndex, params, model, gains);
    model.roots.push(root);
    for (let r = 0; r < rows; r++) scores[r]! += treeValue(model, root, train.features, r * width);
    if (validation && validationScores) {
      for (let r = 0; r < validation.labels.length; r++)
        validationScores[r]! += treeValue(model, root, validation.features, r * width);
      const ndcg = meanNdcg(validation, validationScores, params.k);
      validationCurve.push(ndcg);
      if (ndcg > best + 1e-6) {
        best = ndcg;
        bestTrees = t + 1;
      } else if (t + 1 - bestTrees >= params.patience) break;
    } else bestTrees = t + 1;
  }
  const kept = truncate(model, bestTrees);
  return {
    model: kept,
    gains: gains.slice(0, kept.feature.length),
    validationCurve,
    validationNdcg: validation ? (bestTrees > 0 ? best : baseline) : undefined,
  };
}

/** The first `trees` trees (nodes are laid out tree after tree). */
function truncate(model: TreeEnsemble, trees: number): TreeEnsemble {
  const end = trees < model.roots.length ? model.roots[trees]! : model.feature.length;
  return {
    width: model.width,
    base: model.base,
    roots: model.roots.slice(0, trees),
    feature: model.feature.slice(0, end),
    threshold: model.threshold.slice(0, end),
    left: model.left.slice(0, end),
    right: model.right.slice(0, end),
    value: model.value.slice(0, end),
  };
}

function treeValue(model: TreeEnsemble, root: number, features: Float32Array, offset: number): number {
  let node = root;
  while (model.feature[node]! >= 0) {
    const x = features[offset + model.feature[node]!]!;
    node = x <= model.threshold[node]! || Number.isNaN(x) ? model.left[node]! : model.right[node]!;
  }
  return model.value[node]!;
}

/** NDCG@k of each query ordered by `scores`, averaged over queries with a relevant row. */
export function meanNdcg(data: RankingDataset, scores: ArrayLike<number>, k: number): number {
  let total = 0;
  let queries = 0;
  for (let q = 0; q + 1 < data.queryOffsets.length; q++) {
    const start = data.queryOffsets[q]!;
    const end = data.queryOffsets[q + 1]!;
    const order = rangeSortedBy(start, end, scores);
    const ideal = idealDcg(data.labels, start, end, k);
    if (ideal === 0) continue;
    let dcg = 0;
    for (let p = 0; p < Math.min(k, order.length); p++) dcg += gain(data.labels[order[p]!]!) * discount(p);
    total += dcg / ideal;
    queries++;
  }
  return queries === 0 ? 0 : total / queries;
}

const gain = (label: number) => 2 ** label - 1;
const discount = (position: number) => 1 / Math.log2(position + 2);

function idealDcg(labels: Float32Array, start: number, end: number, k: number): number {
  const sorted = Array.from(labels.subarray(start, end)).sort((a, b) => b - a);
  let dcg = 0;
  for (let p = 0; p < Math.min(k, sorted.length); p++) dcg += gain(sorted[p]!) * discount(p);
  return dcg;
}

/** Row indices start..end-1, highest score first (ties: lower row first). */
function rangeSortedBy(start: number, end: number, scores: ArrayLike<number>): number[] {
  const order = Array.from({ length: end - start }, (_, i) => start + i);
  return order.sort((a, b) => scores[b]! - scores[a]! || a - b);
}

/**
 * LambdaRank: for every pair of a query's rows with different labels, a push on both whose size is the
 * change in (untruncated) NDCG that swapping them would make, times how wrong their current order is.
 * Written as the negative gradient (positive means "score higher") with its second derivative.
 */
function lambdaGradients(
  data: RankingDataset,
  scores: Float64Array,
  gradients: Float64Array,
  hessians: Float64Array,
): void {
  gradients.fill(0);
  hessians.fill(0);
  const { labels, weights } = data;
  for (let q = 0; q + 1 < data.queryOffsets.length; q++) {
    const start = data.queryOffsets[q]!;
    const end = data.queryOffsets[q + 1]!;
    const ideal = idealDcg(labels, start, end, end - start);
    if (ideal === 0) continue;
    const order = rangeSortedBy(start, end, scores);
    const positionOf = new Map<number, number>();
    order.forEach((row, position) => positionOf.set(row, position));
    for (let a = start; a < end; a++) {
      const labelA = labels[a]!;
      if (labelA === 0) continue;
      const weight = weights ? weights[a]! : 1;
      for (let b = start; b < end; b++) {
        if (labels[b]! >= labelA) continue;
        const delta =
          (Math.abs(gain(labelA) - gain(labels[b]!)) *
            Math.abs(discount(positionOf.get(a)!) - discount(positionOf.get(b)!))) /
          ideal;
        const rho = 1 / (1 + Math.exp(scores[a]! - scores[b]!));
        const push = weight * rho * delta;
        const curvature = Math.max(weight * rho * (1 - rho) * delta, 1e-12);
        gradients[a]! += push;
        gradients[b]! -= push;
        hessians[a]! += curvature;
        hessians[b]! += curvature;
      }
    }
  }
}

interface Binning {
  /** Per feature, ascending upper edges: bin b holds values <= edges[b] (above the previous edge). */
  edges: Float32Array[];
  /** Bins per feature, the last (index edges.length) for missing values. */
  bins: number;
}

function buildBins(data: RankingDataset, bins: number): Binning {
  const rows = data.labels.length;
  const step = Math.max(1, Math.floor(rows / 50_000));
  const edges: Float32Array[] = [];
  for (let f = 0; f < data.width; f++) {
    const values: number[] = [];
    for (let r = 0; r < rows; r += step) {
      const x = data.features[r * data.width + f]!;
      if (!Number.isNaN(x)) values.push(x);
    }
    values.sort((a, b) => a - b);
    const distinct: number[] = [];
    for (let b = 1; b < bins; b++) {
      const value = values[Math.min(values.length - 1, Math.floor((b * values.length) / bins))];
      if (value !== undefined && value !== distinct[distinct.length - 1]) distinct.push(value);
    }
    if (values.length > 0 && values[values.length - 1] !== distinct[distinct.length - 1])
      distinct.push(values[values.length - 1]!);
    edges.push(Float32Array.from(distinct));
  }
  return { edges, bins: bins + 1 };
}

/** Column-major bin numbers: feature f of row r is at `f * rows + r`. */
function binRows(data: RankingDataset, binning: Binning): Uint8Array {
  const rows = data.labels.length;
  const binned = new Uint8Array(rows * data.width);
  for (let f = 0; f < data.width; f++) {
    const edges = binning.edges[f]!;
    for (let r = 0; r < rows; r++) {
      const x = data.features[r * data.width + f]!;
      binned[f * rows + r] = Number.isNaN(x) ? binning.bins - 1 : lowerBound(edges, x);
    }
  }
  return binned;
}

function lowerBound(edges: Float32Array, x: number): number {
  let low = 0;
  let high = edges.length - 1;
  if (high < 0) return 0;
  if (x > edges[high]!) return high;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (x <= edges[middle]!) high = middle;
    else low = middle + 1;
  }
  return low;
}

interface Leaf {
  start: number;
  end: number;
  histogram: Float64Array;
  node: number;
  split: Split | undefined;
}

interface Split {
  gain: number;
  feature: number;
  bin: number;
  /** Missing values go left with the low bins (the missing bin is counted into the left side). */
}

/** Grows one tree leaf-wise into `model`, appending its nodes. */
function growTree(
  binned: Uint8Array,
  binning: Binning,
  gradients: Float64Array,
  hessians: Float64Array,
  rowIndex: Uint32Array,
  params: LambdaMartParams,
  model: TreeEnsemble,
  gains: number[],
): void {
  const rows = gradients.length;
  const width = binning.edges.length;
  for (let r = 0; r < rows; r++) rowIndex[r] = r;
  const newNode = () => {
    model.feature.push(-1);
    model.threshold.push(0);
    model.left.push(-1);
    model.right.push(-1);
    model.value.push(0);
    gains.push(0);
    return model.feature.length - 1;
  };
  const root: Leaf = {
    start: 0,
    end: rows,
    histogram: histogramOf(0, rows),
    node: newNode(),
    split: undefined,
  };
  root.split = bestSplit(root);
  const leaves: Leaf[] = [root];

  function histogramOf(start: number, end: number): Float64Array {
    const bins = binning.bins;
    const histogram = new Float64Array(width * bins * 3);
    for (let f = 0; f < width; f++) {
      const column = f * rows;
      const base = f * bins * 3;
      for (let p = start; p < end; p++) {
        const r = rowIndex[p]!;
        const at = base + binned[column + r]! * 3;
        histogram[at]! += gradients[r]!;
        histogram[at + 1]! += hessians[r]!;
        histogram[at + 2]! += 1;
      }
    }
    return histogram;
  }

  function bestSplit(leaf: Leaf): Split | undefined {
    const bins = binning.bins;
    const { histogram } = leaf;
    let totalG = 0;
    let totalH = 0;
    for (let b = 0; b < bins; b++) {
      totalG += histogram[b * 3]!;
      totalH += histogram[b * 3 + 1]!;
    }
    const count = leaf.end - leaf.start;
    const parentScore = (totalG * totalG) / (totalH + params.l2);
    let best: Split | undefined;
    for (let f = 0; f < width; f++) {
      const base = f * bins * 3;
      const usable = binning.edges[f]!.length;
      // Missing values start on the left.
      let g = histogram[base + (bins - 1) * 3]!;
      let h = histogram[base + (bins - 1) * 3 + 1]!;
      let n = histogram[base + (bins - 1) * 3 + 2]!;
      for (let b = 0; b + 1 < usable; b++) {
        g += histogram[base + b * 3]!;
        h += histogram[base + b * 3 + 1]!;
        n += histogram[base + b * 3 + 2]!;
        if (n < params.minLeafRows) continue;
        if (count - n < params.minLeafRows) break;
        const gain =
          (g * g) / (h + params.l2) + ((totalG - g) * (totalG - g)) / (totalH - h + params.l2) - parentScore;
        if (gain > 1e-9 && (!best || gain > best.gain)) best = { gain, feature: f, bin: b };
      }
    }
    return best;
  }

  function leafValue(leaf: Leaf): number {
    let g = 0;
    let h = 0;
    for (let b = 0; b < binning.bins; b++) {
      g += leaf.histogram[b * 3]!;
      h += leaf.histogram[b * 3 + 1]!;
    }
    return (params.learningRate * g) / (h + params.l2);
  }

  while (leaves.length < params.leaves) {
    let chosen = -1;
    for (let l = 0; l < leaves.length; l++) {
      const split = leaves[l]!.split;
      if (split && (chosen < 0 || split.gain > leaves[chosen]!.split!.gain)) chosen = l;
    }
    if (chosen < 0) break;
    const leaf = leaves[chosen]!;
    const split = leaf.split!;
    // Partition the leaf's rows: bins up to split.bin, and missing, to the left.
    const column = split.feature * rows;
    const missing = binning.bins - 1;
    let middle = leaf.start;
    for (let p = leaf.start; p < leaf.end; p++) {
      const r = rowIndex[p]!;
      const bin = binned[column + r]!;
      if (bin <= split.bin || bin === missing) {
        rowIndex[p] = rowIndex[middle]!;
        rowIndex[middle++] = r;
      }
    }
    // Its worth as a leaf, for attribution, before its histogram becomes a child's.
    const parentValue = leafValue(leaf);
    // Histogram of the smaller child; the larger one's is the parent's minus it.
    const leftSmaller = middle - leaf.start <= leaf.end - middle;
    const small = leftSmaller ? histogramOf(leaf.start, middle) : histogramOf(middle, leaf.end);
    const large = leaf.histogram;
    for (let i = 0; i < large.length; i++) large[i]! -= small[i]!;
    const left: Leaf = {
      start: leaf.start,
      end: middle,
      histogram: leftSmaller ? small : large,
      node: newNode(),
      split: undefined,
    };
    const right: Leaf = {
      start: middle,
      end: leaf.end,
      histogram: leftSmaller ? large : small,
      node: newNode(),
      split: undefined,
    };
    model.feature[leaf.node] = split.feature;
    model.value[leaf.node] = parentValue;
    model.threshold[leaf.node] = binning.edges[split.feature]![split.bin]!;
    model.left[leaf.node] = left.node;
    model.right[leaf.node] = right.node;
    gains[leaf.node] = split.gain;
    left.split = bestSplit(left);
    right.split = bestSplit(right);
    leaves.splice(chosen, 1, left, right);
  }
  for (const leaf of leaves) model.value[leaf.node] = leafValue(leaf);
}
