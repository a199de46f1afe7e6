import type { Migration } from 'kysely/migration';
import * as m0001 from './0001_initial.ts';
import * as m0002 from './0002_api_keys.ts';
import * as m0003 from './0003_imports.ts';
import * as m0004 from './0004_item_embeddings_next.ts';
import * as m0005 from './0005_recommendations.ts';
import * as m0006 from './0006_boosted_items_index.ts';
import * as m0007 from './0007_chat_sessions.ts';
import * as m0008 from './0008_item_title_index.ts';
import * as m0009 from './0009_item_document_cost.ts';
import * as m0010 from './0010_user_token_revocations.ts';
import * as m0011 from './0011_import_progress.ts';
import * as m0012 from './0012_live_item_stats.ts';
import * as m0013 from './0013_model_snapshot_change_indexes.ts';
import * as m0014 from './0014_item_search_documents.ts';
import * as m0015 from './0015_ranker_models.ts';
import * as m0016 from './0016_recommendation_feedback.ts';
import * as m0017 from './0017_search_document_changes.ts';

// An explicit list rather than a folder scan: it works the same from src (type stripping) and dist, and a
// migration cannot be picked up by accident. Names sort in the order they must run.
export const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_api_keys': m0002,
  '0003_imports': m0003,
  '0004_item_embeddings_next': m0004,
  '0005_recommendations': m0005,
  '0006_boosted_items_index': m0006,
  '0007_chat_sessions': m0007,
  '0008_item_title_index': m0008,
  '0009_item_document_cost': m0009,
  '0010_user_token_revocations': m0010,
  '0011_import_progress': m0011,
  '0012_live_item_stats': m0012,
  '0013_model_snapshot_change_indexes': m0013,
  '0014_item_search_documents': m0014,
  '0015_ranker_models': m0015,
  '0016_recommendation_feedback': m0016,
  '0017_search_document_changes': m0017,
};
