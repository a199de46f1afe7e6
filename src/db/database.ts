import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

// One place that says what the tables hold. Columns are snake_case; the API layer maps them to camelCase.

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export interface Credit {
  name: string;
  role: string;
}

export interface MetaTable {
  key: string;
  value: Json<unknown>;
  updated_at: CreatedTimestamp;
}

export interface ItemsTable {
  id: string;
  type: string;
  title: string;
  description: string | null;
  genres: ColumnType<string[], string[] | undefined, string[]>;
  tags: ColumnType<string[], string[] | undefined, string[]>;
  credits: ColumnType<Credit[], string | undefined, string>;
  language: string | null;
  release_date: string | null;
  release_year: number | null;
  duration_seconds: number | null;
  maturity_rating: string | null;
  regions: ColumnType<string[], string[] | undefined, string[]>;
  available_from: Timestamp | null;
  available_until: Timestamp | null;
  image_url: string | null;
  url: string | null;
  series_id: string | null;
  attributes: ColumnType<Record<string, unknown>, string | undefined, string>;
  embedding_text_hash: string | null;
  created_at: CreatedTimestamp;
  updated_at: CreatedTimestamp;
}

export interface UsersTable {
  id: string;
  attributes: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: CreatedTimestamp;
  updated_at: CreatedTimestamp;
}

export interface EventsTable {
  // bigint identity: pg returns it as a string, PGlite as a number; only ever compared and encoded.
  seq: ColumnType<string | number, never, never>;
  dedup_key: string;
  client_id: string | null;
  user_id: string;
  item_id: string;
  type: string;
  value: number | null;
  occurred_at: Timestamp;
  recommendation_id: string | null;
  context: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  received_at: Generated<Date>;
}

/** The search document of an item (db/migrations/0014), written by triggers on items. */
export interface ItemSearchDocumentsTable {
  item_id: string;
  /** tsvector: searched and ranked in SQL, or read as text into each process's in-memory index. */
  document: string;
  /** When the document last changed (migration 0017). */
  updated_at: Generated<Date>;
}

export interface ItemEmbeddingsTable {
  item_id: string;
  embedding: string;
  content_hash: string;
  embedded_at: Generated<Date>;
}

export interface ImportsTable {
  id: string;
  kind: string;
  format: string;
  mode: string;
  status: string;
  source: string | null;
  options: ColumnType<Record<string, unknown>, string | undefined, string>;
  received: ColumnType<number, number | undefined, number>;
  rejected: ColumnType<number, number | undefined, number>;
  errors: ColumnType<ImportError[], string | undefined, string>;
  batches_total: number | null;
  failure: string | null;
  created_at: CreatedTimestamp;
  read_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  finished_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** When it last moved: records read, a batch finished (or a sweeper looked at it). */
  progress_at: Generated<Date>;
  /** When its reader last said it was alive. */
  reader_alive_at: Generated<Date>;
  /** Batches the reader has handed to the queue so far. */
  batches_submitted: ColumnType<number, number | undefined, number>;
  /** Items it stored but could not embed, left for a later run. */
  embeddings_pending: ColumnType<boolean, boolean | undefined, boolean>;
}

/** A record an import could not take: where it was and why. */
export interface ImportError {
  line: number;
  id?: string | undefined;
  reason: string;
}

export interface ImportBatchesTable {
  import_id: string;
  batch_no: number;
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
  failed: number;
  embedded: number;
  errors: ColumnType<ImportError[], string | undefined, string>;
  finished_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface ImportSeenIdsTable {
  import_id: string;
  id: string;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  scopes: ColumnType<string[], string[], string[]>;
  secret_hash: string;
  created_at: CreatedTimestamp;
  last_used_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

/** The taste a user's events add up to; see src/recommender/profile.ts for the `profile` document. */
export interface UserProfilesTable {
  user_id: string;
  profile: ColumnType<StoredProfile, string, string>;
  embedding_model: string | null;
  events_seen: ColumnType<number, number | undefined, number>;
  last_event_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  updated_at: CreatedTimestamp;
}

/** A user profile as stored (JSON): see src/recommender/profile.ts. */
export interface StoredProfile {
  /** Up to a few interest directions (unit vectors), heaviest first, with the items that shaped each. */
  interests: { vector: number[]; weight: number; itemIds: string[] }[];
  /** The direction of what the user disliked or skipped, if anything (unit vector). */
  negative: { vector: number[]; weight: number; itemIds: string[] } | null;
  /** Items with their decayed weight (positive or negative), heaviest first by magnitude. */
  history: { itemId: string; weight: number }[];
  /**
   * Items the user engaged with and how strongly (ratings as rating / 5), strongest first: what the
   * collaborative source scores from. Absent in profiles built before it existed.
   */
  interactions?: { itemId: string; weight: number }[];
}

export interface RecommendationFeedbackTable {
  id: ColumnType<string | number, never, never>;
  user_id: string;
  item_id: string;
  recommendation_id: string | null;
  target: 'item' | 'explanation';
  value: 'up' | 'down' | 'not_interested';
  created_at: CreatedTimestamp;
}

export interface RankerModelsTable {
  id: ColumnType<string | number, never, never>;
  trained_at: CreatedTimestamp;
  serving: boolean;
  /** Why it serves, or why the ranker before it stays. */
  verdict: string;
  report: ColumnType<unknown, string, string>;
  model: ColumnType<unknown, string, string>;
  /** The ranking catalog artefact (src/recommender/ranking/ranking-artifact.ts). */
  catalog: Uint8Array;
}

export interface ItemNeighboursTable {
  item_id: string;
  neighbour_ids: string[];
  scores: number[];
  model: string;
  trained_at: CreatedTimestamp;
  /** When the row was written or last edited (an erasure): what processes holding the lists reread. */
  updated_at: CreatedTimestamp;
}

/**
 * Live statistics of an item's positive events, kept as events arrive (src/repositories/item-stats.repository.ts):
 * a row exists while the item has at least one. Trending columns are log-space scores against a fixed
 * reference time (src/recommender/trending-decay.ts).
 */
export interface ItemStatsTable {
  item_id: string;
  interactions: number;
  users: number;
  popularity: number;
  trending_day: number;
  trending_week: number;
  trending_month: number;
  updated_at: CreatedTimestamp;
}

export interface RecommendationImpressionsTable {
  recommendation_id: string;
  position: number;
  item_id: string;
  user_id: string | null;
  endpoint: string;
  variant: string;
  sources: string[];
  created_at: CreatedTimestamp;
}

/** A conversation with POST /v1/chat; `turns` is the document of src/services/chat.service.ts, oldest first. */
export interface ChatSessionsTable {
  id: string;
  user_id: string | null;
  turns: ColumnType<StoredChatTurn[], string, string>;
  created_at: CreatedTimestamp;
  updated_at: CreatedTimestamp;
  expires_at: Timestamp;
}

/** Erased users: their user tokens issued at or before `revoked_through` are refused. */
export interface UserTokenRevocationsTable {
  user_id: string;
  revoked_through: Timestamp;
}

/** One turn of a chat session as stored (JSON). */
export interface StoredChatTurn {
  /** When the turn was answered (ISO 8601). */
  at: string;
  message: string;
  /** The structured query the message was understood as (src/chat/chat-query.ts). */
  query: Record<string, unknown>;
  /** The items returned, in order. */
  itemIds: string[];
  reply: string;
}

export interface Database {
  marquee_meta: MetaTable;
  items: ItemsTable;
  users: UsersTable;
  events: EventsTable;
  item_embeddings: ItemEmbeddingsTable;
  /** The next embedding space's vectors while `marquee reembed` builds them; empty otherwise. */
  item_embeddings_next: ItemEmbeddingsTable;
  api_keys: ApiKeysTable;
  imports: ImportsTable;
  import_batches: ImportBatchesTable;
  import_seen_ids: ImportSeenIdsTable;
  user_profiles: UserProfilesTable;
  item_neighbours: ItemNeighboursTable;
  ranker_models: RankerModelsTable;
  recommendation_feedback: RecommendationFeedbackTable;
  item_search_documents: ItemSearchDocumentsTable;
  item_stats: ItemStatsTable;
  recommendation_impressions: RecommendationImpressionsTable;
  chat_sessions: ChatSessionsTable;
  user_token_revocations: UserTokenRevocationsTable;
}

export type ItemRow = Selectable<ItemsTable>;
export type NewItemRow = Insertable<ItemsTable>;
export type ItemRowUpdate = Updateable<ItemsTable>;
export type UserRow = Selectable<UsersTable>;
export type EventRow = Selectable<EventsTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type ImportRow = Selectable<ImportsTable>;
export type ImportBatchRow = Selectable<ImportBatchesTable>;
export type NewEventRow = Insertable<EventsTable>;
export type ChatSessionRow = Selectable<ChatSessionsTable>;
