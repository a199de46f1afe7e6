/**
 * The language model behind explanations and chat: one small interface, so the services never see the
 * provider's client. Every failure (a time-out, an error answer, output that is not valid JSON for the
 * schema, the circuit open, the concurrency limit or the daily token budget reached) is an LlmError with a
 * reason, and callers answer without the LLM: templates, the rule-based parser.
 */
import type { z } from 'zod';

/** What a call is for: metrics and budgets are kept per purpose. */
export type LlmPurpose = 'explain' | 'chat-query' | 'chat-reply';

export interface LlmMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface LlmCall {
  purpose: LlmPurpose;
  messages: readonly LlmMessage[];
  /** Output tokens at most; the configured maximum when absent (and never above it). */
  maxTokens?: number;
  /** Aborts the call: a page's time budget, a client that went away. */
  signal?: AbortSignal;
  /** Whose daily token budget pays for the call (an API key id); calls without one count on 'anonymous'. */
  budgetKey?: string;
  /** Streams the answer: called with each piece of text as the model writes it. */
  onText?: (delta: string) => void;
}

export interface LanguageModel {
  /** The model's name, part of cache keys (a new model writes new explanations). */
  readonly model: string;
  /** JSON that the schema validates (structured output where the server has it, JSON mode otherwise). */
  generateObject<T>(call: LlmCall & { schema: z.ZodType<T>; schemaName: string }): Promise<T>;
  generateText(call: LlmCall): Promise<string>;
}

export const LLM_FAILURE_REASONS = [
  'timeout',
  'error',
  'invalid-output',
  'circuit-open',
  'busy',
  'budget',
] as const;
export type LlmFailureReason = (typeof LLM_FAILURE_REASONS)[number];

export class LlmError extends Error {
  readonly reason: LlmFailureReason;

  constructor(reason: LlmFailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LlmError';
    this.reason = reason;
  }
}

/** The failure reason of anything a language model call threw. */
export function llmFailureReason(error: unknown): LlmFailureReason {
  return error instanceof LlmError ? error.reason : 'error';
}
