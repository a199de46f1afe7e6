/**
 * The two strategies a chat turn is made of, behind small interfaces so that a language model can replace
 * either: the parser turns a message (and the session so far) into a ChatQuery the engine runs, the reply
 * writer writes what the viewer reads above the items. The engine in between (src/services/chat.service.ts)
 * is the same whoever parses and writes: it resolves titles and genres against the catalog, retrieves,
 * personalises and filters, so only catalog items are ever returned. The offline strategies (rules and
 * templates) are the default and the fallback of any other: a parser that throws is replaced by the rules,
 * a writer that throws before writing anything by the template.
 */
import type { ExplanationLocale } from '../explain/locale.ts';
import type { ItemFilters } from '../recommender/item-filters.ts';
import type { RecommendedItem } from '../schemas/recommendations.schema.ts';
import type { ChatQuery } from './chat-query.ts';
import { parseChatMessage } from './rule-query-parser.ts';
import { writeTemplateReply } from './template-reply.ts';

/** One earlier turn of the session, as stored. */
export interface ChatHistoryTurn {
  /** When it was answered (ISO 8601). */
  at: string;
  message: string;
  /** The query the message was understood as and the engine ran. */
  query: ChatQuery;
  /** What was returned, in order. */
  itemIds: readonly string[];
  reply: string;
}

export interface ChatParseInput {
  message: string;
  /** The session's earlier turns, oldest first (the last CHAT_MAX_TURNS at most). */
  history: readonly ChatHistoryTurn[];
  /** The language the viewer reads (the reply's). */
  locale: ExplanationLocale;
}

/** Cancelled when the client goes away or the request runs out of time. */
export interface StrategyOptions {
  signal?: AbortSignal | undefined;
  /** Whose daily LLM token budget pays (an API key id), for strategies that call a language model. */
  budgetKey?: string | undefined;
}

export interface ChatQueryParser {
  /** Shown in logs ("rules", "llm:gpt-4.1-mini"...). */
  readonly name: string;
  /**
   * The query the message asks for, the session's earlier turns taken into account ("make it shorter").
   * The answer is validated against chatQuerySchema; one that fails, or a rejection, falls back to the rules.
   * Its strings then pass the output filter field by field (plainChatQuery; the rules' excepted), so a
   * parser backed by a model need only add what it alone knows: its instructions, for the leak check.
   */
  parse(input: ChatParseInput, options: StrategyOptions): Promise<ChatQuery>;
}

/** A catalog item the viewer named ("like Stranger Things"), found by title. */
export interface ReferenceItem {
  itemId: string;
  title: string;
}

/** Everything a reply may be written from; the items are the only titles it may recommend. */
export interface ChatReplyContext {
  message: string;
  /** The query the engine ran. */
  query: ChatQuery;
  /** The items returned, in order (without explanations). */
  items: readonly RecommendedItem[];
  /** The titles the viewer named that were found in the catalog (never returned themselves). */
  references: readonly ReferenceItem[];
  /** The titles the viewer named that the catalog does not have. */
  unresolvedReferences: readonly string[];
  /** The page size asked for: fewer items means fewer matched. */
  limit: number;
  /** The caller's own filters (business rules), on top of the query's. */
  requestFilters: ItemFilters;
  locale: ExplanationLocale;
  history: readonly ChatHistoryTurn[];
}

export interface ChatReplyWriter {
  readonly name: string;
  /**
   * The reply in pieces, in order, as they are written (the streaming form sends each as it comes); joined,
   * they are the whole reply. It must name no title but those of `items` (and the viewer's own references),
   * and a writer backed by a model must pass each piece through the output filter (src/llm/output-filter.ts)
   * before yielding it: the service cannot take back a piece already streamed.
   */
  write(context: ChatReplyContext, options: StrategyOptions): AsyncIterable<string>;
}

export interface ChatStrategies {
  parser: ChatQueryParser;
  replyWriter: ChatReplyWriter;
}

/** The offline parser: rules and word lists (src/chat/rule-query-parser.ts). */
export const ruleQueryParser: ChatQueryParser = {
  name: 'rules',
  parse: async (input) => parseChatMessage(input.message, input.history),
};

/** The offline writer: one template sentence after another (src/chat/template-reply.ts). */
export const templateReplyWriter: ChatReplyWriter = {
  name: 'template',
  async *write(context) {
    const sentences = writeTemplateReply(context);
    for (const [index, sentence] of sentences.entries())
      yield index < sentences.length - 1 ? `${sentence} ` : sentence;
  },
};

export const OFFLINE_CHAT_STRATEGIES: ChatStrategies = Object.freeze({
  parser: ruleQueryParser,
  replyWriter: templateReplyWriter,
});
