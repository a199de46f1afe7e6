/**
 * The language model on OpenAI's chat completions API, which OpenAI and the servers that copy it (vLLM,
 * Ollama, LiteLLM, TGI...) all speak. Guards around every call, from the outside in: the daily token budget
 * of the caller's API key (counted in the shared cache, so all replicas share it), a bulkhead (calls in
 * flight and waiting), and a circuit breaker that stops calling a provider that keeps failing. cockatiel
 * provides the last two; the official client retries (backoff with jitter, honouring Retry-After).
 */
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  bulkhead,
  circuitBreaker,
  ConsecutiveBreaker,
  handleAll,
} from 'cockatiel';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import type { ChatCompletionCreateParamsBase } from 'openai/resources/chat/completions';
import type { z } from 'zod';
import type { Cache } from '../cache/cache.ts';
import type { LlmConfig } from '../config.ts';
import type { AppMetrics } from '../metrics.ts';
import {
  type LanguageModel,
  type LlmCall,
  LlmError,
  type LlmFailureReason,
  type LlmMessage,
} from './language-model.ts';

export interface OpenAiLanguageModelOptions {
  config: LlmConfig;
  model: string;
  /** Counts each API key's tokens per day; shared across replicas when it is Redis. */
  cache: Cache;
  metrics?: Pick<AppMetrics, 'llmCalls' | 'llmTokens' | 'llmDuration'>;
  /** The guards, shared by the models of one process so that limits hold across purposes. */
  guards?: LlmGuards;
  now?: () => Date;
}

export interface LlmGuards {
  readonly bulkhead: ReturnType<typeof bulkhead>;
  readonly breaker: ReturnType<typeof circuitBreaker>;
}

export function createLlmGuards(config: LlmConfig): LlmGuards {
  return {
    bulkhead: bulkhead(config.concurrency, config.queue),
    breaker: circuitBreaker(handleAll, {
      halfOpenAfter: config.circuitOpenSeconds * 1000,
      breaker: new ConsecutiveBreaker(config.circuitFailures),
    }),
  };
}

// A counter for a UTC day lives a little longer than the day, so it is never reset early by clock skew.
const BUDGET_COUNTER_TTL_SECONDS = 26 * 3600;

interface Completion {
  text: string;
  usage: { prompt: number; completion: number } | undefined;
}

export function createOpenAiLanguageModel(options: OpenAiLanguageModelOptions): LanguageModel {
  const { config, model, cache, metrics } = options;
  const client = new OpenAI({
    // Local servers (Ollama, vLLM) take no key, but the client wants one.
    apiKey: config.apiKey ?? 'no-key',
    baseURL: config.baseUrl,
    timeout: config.timeoutMs,
    maxRetries: config.maxRetries,
  });
  const guards = options.guards ?? createLlmGuards(config);
  const now = options.now ?? (() => new Date());
  // Learnt from the first server that refuses JSON-schema output; then JSON mode for the process's life.
  let structuredOutput = config.structuredOutput;

  const budgetCounterKey = (call: LlmCall) =>
    `llm-tokens:${now().toISOString().slice(0, 10)}:${call.budgetKey ?? 'anonymous'}`;

  const complete = async (
    call: LlmCall,
    responseFormat: ChatCompletionCreateParamsBase['response_format'] | undefined,
    messages: readonly LlmMessage[],
  ): Promise<Completion> => {
    const body = {
      model,
      messages: messages.map((message) => ({ role: message.role, content: message.content })),
      max_tokens: Math.min(call.maxTokens ?? config.maxTokens, config.maxTokens),
      ...(responseFormat && { response_format: responseFormat }),
    };
    if (!call.onText) {
      const response = await client.chat.completions.create(
        { ...body, stream: false },
        { signal: call.signal },
      );
      const usage = response.usage;
      return {
        text: response.choices[0]?.message.content ?? '',
        usage: usage && { prompt: usage.prompt_tokens, completion: usage.completion_tokens },
      };
    }
    const stream = await client.chat.completions.create(
      { ...body, stream: true, stream_options: { include_usage: true } },
      { signal: call.signal },
    );
    let text = '';
    let usage: Completion['usage'];
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.content;
      if (delta) {
        text += delta;
        call.onText(delta);
      }
      if (chunk.usage)
        usage = { prompt: chunk.usage.prompt_tokens, completion: chunk.usage.completion_tokens };
    }
    return { text, usage };
  };

  const recordUsage = async (call: LlmCall, usage: Completion['usage']) => {
    if (!usage) return;
    metrics?.llmTokens.inc({ purpose: call.purpose, kind: 'prompt' }, usage.prompt);
    metrics?.llmTokens.inc({ purpose: call.purpose, kind: 'completion' }, usage.completion);
    if (config.dailyTokensPerKey > 0)
      await cache.increment(
        budgetCounterKey(call),
        usage.prompt + usage.completion,
        BUDGET_COUNTER_TTL_SECONDS,
      );
  };

  /** Runs one call through the guards; `read` turns the text into the answer (and may reject it). */
  const guarded = async <T>(
    call: LlmCall,
    run: (signal: AbortSignal) => Promise<Completion>,
    read: (text: string) => T,
  ): Promise<T> => {
    const started = performance.now();
    const finish = (outcome: 'ok' | LlmFailureReason) => {
      metrics?.llmCalls.inc({ purpose: call.purpose, outcome });
      metrics?.llmDuration.observe({ purpose: call.purpose, outcome }, (performance.now() - started) / 1000);
    };
    if (config.dailyTokensPerKey > 0) {
      const spent = (await cache.get<number>(budgetCounterKey(call))) ?? 0;
      if (spent >= config.dailyTokensPerKey) {
        finish('budget');
        throw new LlmError(
          'budget',
          `the daily LLM token budget of ${call.budgetKey ?? 'anonymous'} is spent`,
        );
      }
    }
    try {
      // Invalid output is read inside the breaker: a model that keeps answering garbage opens the circuit too.
      const answer = await guards.bulkhead.execute(
        () =>
          guards.breaker.execute(async ({ signal }) => {
            const completion = await run(signal);
            await recordUsage(call, completion.usage);
            return read(completion.text);
          }, call.signal),
        call.signal,
      );
      finish('ok');
      return answer;
    } catch (error) {
      const failure = asLlmError(error, call.signal);
      finish(failure.reason);
      throw failure;
    }
  };

  return {
    model,
    async generateText(call) {
      return guarded(
        call,
        (signal) => complete({ ...call, signal }, undefined, call.messages),
        (text) => text,
      );
    },
    async generateObject<T>(call: LlmCall & { schema: z.ZodType<T>; schemaName: string }): Promise<T> {
      return guarded(
        call,
        async (signal) => {
          const attempt = { ...call, signal };
          if (structuredOutput !== 'json_object') {
            const format = zodResponseFormat(call.schema, call.schemaName);
            try {
              // Only the wire fields: the helper's object also carries a parser meant for `.parse()`.
              return await complete(
                attempt,
                { type: 'json_schema', json_schema: { ...format.json_schema } },
                call.messages,
              );
            } catch (error) {
              if (structuredOutput !== 'auto' || !refusesJsonSchema(error)) throw error;
              structuredOutput = 'json_object';
            }
          }
          return complete(
            attempt,
            { type: 'json_object' },
            withSchemaInstruction(call.messages, call.schema),
          );
        },
        (text) => parseStructured(text, call.schema),
      );
    },
  };
}

/** JSON mode guarantees JSON, not its shape: the schema goes into the system message, and zod checks. */
function withSchemaInstruction(messages: readonly LlmMessage[], schema: z.ZodType): LlmMessage[] {
  const instruction = `Answer with one JSON object that matches this JSON schema:\n${JSON.stringify(
    zodResponseFormat(schema, 'answer').json_schema.schema,
  )}`;
  const [first, ...rest] = messages;
  return first?.role === 'system'
    ? [{ role: 'system', content: `${first.content}\n\n${instruction}` }, ...rest]
    : [{ role: 'system', content: instruction }, ...messages];
}

function parseStructured<T>(text: string, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    // Some servers wrap JSON-mode answers in a Markdown fence.
    value = JSON.parse(text.replace(/^\s*```(?:json)?\s*|\s*```\s*$/g, ''));
  } catch (error) {
    throw new LlmError('invalid-output', 'the model did not answer JSON', { cause: error });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new LlmError(
      'invalid-output',
      `the model's JSON does not match the schema: ${parsed.error.message}`,
    );
  return parsed.data;
}

/** A 400 about the response format: the server has no JSON-schema output (older vLLM, some proxies). */
function refusesJsonSchema(error: unknown): boolean {
  return (
    error instanceof OpenAI.BadRequestError && /response_format|json_schema|structured/i.test(error.message)
  );
}

function asLlmError(error: unknown, signal: AbortSignal | undefined): LlmError {
  if (error instanceof LlmError) return error;
  if (error instanceof BrokenCircuitError)
    return new LlmError('circuit-open', 'the LLM provider failed repeatedly; not calling it for a while');
  if (error instanceof BulkheadRejectedError)
    return new LlmError('busy', 'too many LLM calls in flight and waiting');
  if (signal?.aborted || error instanceof OpenAI.APIConnectionTimeoutError || isAbort(error))
    return new LlmError('timeout', 'the LLM call ran out of time', { cause: error });
  return new LlmError(
    'error',
    `the LLM call failed: ${error instanceof Error ? error.message : String(error)}`,
    {
      cause: error,
    },
  );
}

function isAbort(error: unknown): boolean {
  return (
    error instanceof OpenAI.APIUserAbortError ||
    (error instanceof Error && (error.name === 'AbortError' || error.name === 'TaskCancelledError'))
  );
}
