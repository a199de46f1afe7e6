/**
 * What users can do to an item, as events record it: one list for the API's validation, the configuration
 * (event weights, consumed types) and the recommender.
 */
export const EVENT_TYPES = [
  'view',
  'play',
  'progress',
  'complete',
  'like',
  'dislike',
  'rate',
  'add_to_list',
  'remove_from_list',
  'share',
  'skip',
  'purchase',
  'click',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * The event types that say "this user wanted this item" (a positive weight), whatever their value: what the
 * collaborative models and the item statistics count. Sorted, so that equal settings compare equal.
 */
export function positiveEventTypes(eventWeights: Readonly<Partial<Record<string, number>>>): string[] {
  return Object.entries(eventWeights)
    .filter(([, weight]) => weight !== undefined && weight > 0)
    .map(([type]) => type)
    .sort();
}
