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
