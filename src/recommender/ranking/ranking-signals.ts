/**
 * What set each of the learned ranker's picks apart from the other candidates of the same page: per pick,
 * the features whose contribution to its score (featureContributions) is furthest above the mean
 * contribution over the candidates scored. Features of the user alone (history length, mainstreamness)
 * move every candidate alike and so cancel out. Pure; the explainer and the console read the result.
 */
import { featureContributions, type TreeEnsemble } from './lambda-mart.ts';
import { RANKING_FEATURE_COUNT, RANKING_FEATURES, type RankingFeature } from './ranking-features.ts';

/** One feature that lifted a pick above the other candidates. */
export interface RankingSignal {
  feature: RankingFeature;
  /** The feature's value for the pick; null when unknown (missing). */
  value: number | null;
  /** How far it lifted the pick's score above the candidates' mean (log-odds units of the ranker). */
  lift: number;
}

/** Strongest signals kept per pick. */
export const SIGNALS_PER_PICK = 3;

/**
 * The strongest positive signals of each of `rows` (indices into the feature block), in that order. Only
 * lifts of at least 1 % of the largest one across the rows are kept: a pick that nothing sets apart gets [].
 */
export function strongestSignals(
  model: TreeEnsemble,
  features: Float32Array,
  rows: readonly number[],
  perPick = SIGNALS_PER_PICK,
): RankingSignal[][] {
  const width = RANKING_FEATURE_COUNT;
  const contributions = rows.map((row) => featureContributions(model, features, row * width));
  const mean = new Float64Array(width);
  for (const row of contributions) for (let f = 0; f < width; f++) mean[f]! += row[f]! / rows.length;
  let largest = 0;
  for (const row of contributions)
    for (let f = 0; f < width; f++) largest = Math.max(largest, row[f]! - mean[f]!);
  const floor = largest * 0.01;
  return contributions.map((row, at) => {
    const offset = rows[at]! * width;
    const lifts: RankingSignal[] = [];
    for (let f = 0; f < width; f++) {
      const lift = row[f]! - mean[f]!;
      if (lift <= floor || lift <= 0) continue;
      const value = features[offset + f]!;
      lifts.push({
        feature: RANKING_FEATURES[f]!,
        value: Number.isNaN(value) ? null : Math.round(value * 10_000) / 10_000,
        lift: Math.round(lift * 10_000) / 10_000,
      });
    }
    return lifts.sort((a, b) => b.lift - a.lift).slice(0, perPick);
  });
}
