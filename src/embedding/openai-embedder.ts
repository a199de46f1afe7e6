import OpenAI from 'openai';
import pLimit from 'p-limit';
import type { Counter } from 'prom-client';
import type { EmbeddingSpace } from '../db/embedding-space.ts';
import { type Embedder, normalize } from './embedder.ts';

export interface OpenAiEmbedderOptions {
  space: EmbeddingSpace;
  apiKey: string | undefined;
  baseUrl: string | undefined;
  /** Inputs per request. */
  batchSize: number;
  /** Estimated tokens per request (about 4 characters a token). */
  batchTokens: number;
  /** Requests in flight at once, across all callers of this embedder. */
  concurrency: number;
  timeoutMs: number;
  maxRetries: number;
  metrics?: {
    calls: Counter<'provider' | 'outcome'>;
    tokens: Counter<'provider'>;
  };
}

// Longest input sent: OpenAI's embedding models take 8,191 tokens; about 4 characters a token in English.
const MAX_INPUT_CHARS = 24_000;
const estimateTokens = (text: string) => Math.ceil(text.length / 4) + 1;

/** Splits texts into requests of at most batchSize inputs and about batchTokens tokens. */
export function planBatches(texts: readonly string[], batchSize: number, batchTokens: number): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  let tokens = 0;
  texts.forEach((text, index) => {
    const cost = estimateTokens(text);
    if (current.length > 0 && (current.length >= batchSize || tokens + cost > batchTokens)) {
      batches.push(current);
      current = [];
      tokens = 0;
    }
    current.push(index);
    tokens += cost;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * One embedding of an answer asked for with `encoding_format: "base64"`: little-endian float32 bytes in
 * base64, a third of the size of the same numbers written out in JSON and far cheaper to parse on both ends.
 * A server that ignores the field (as some compatible ones do) answers an array of numbers: taken as it is.
 */
export function decodeEmbedding(embedding: unknown): Float32Array {
  if (Array.isArray(embedding)) return Float32Array.from(embedding as number[]);
  if (typeof embedding !== 'string')
    throw new Error(
      `the embedding server answered an embedding that is neither base64 nor an array of numbers`,
    );
  const bytes = Buffer.from(embedding, 'base64');
  if (bytes.length % 4 !== 0)
    throw new Error(
      `the embedding server answered ${bytes.length} bytes of base64, not whole float32 values`,
    );
  const vector = new Float32Array(bytes.length / 4);
  for (let index = 0; index < vector.length; index++) vector[index] = bytes.readFloatLE(index * 4);
  return vector;
}

/**
 * Embeddings from OpenAI or any server that speaks its API (vLLM, Ollama, TEI, LiteLLM...). The official
 * client does the retrying: exponential backoff with jitter on 408, 409, 429 and 5xx answers and on
 * connection errors, honouring Retry-After; each request has its own timeout.
 */
export function createOpenAiEmbedder(options: OpenAiEmbedderOptions): Embedder {
  const { space } = options;
  const client = new OpenAI({
    // Local servers (Ollama, vLLM) take no key, but the client wants one.
    apiKey: options.apiKey ?? 'no-key',
    baseURL: options.baseUrl,
    timeout: options.timeoutMs,
    maxRetries: options.maxRetries,
  });
  const limit = pLimit(options.concurrency);

  const request = async (inputs: string[], signal: AbortSignal | undefined): Promise<Float32Array[]> => {
    try {
      const response = await client.embeddings.create(
        { model: space.model, input: inputs, dimensions: space.dimension, encoding_format: 'base64' },
        { signal },
      );
      options.metrics?.tokens.inc({ provider: 'openai' }, response.usage?.prompt_tokens ?? 0);
      const vectors = [...response.data]
        .sort((a, b) => a.index - b.index)
        .map((entry) => decodeEmbedding(entry.embedding as unknown));
      if (vectors.length !== inputs.length)
        throw new Error(
          `the embedding server answered ${vectors.length} vectors for ${inputs.length} inputs`,
        );
      const wrong = vectors.find((vector) => vector.length !== space.dimension);
      if (wrong)
        throw new Error(
          `the embedding server answered vectors of dimension ${wrong.length}, but MARQUEE_EMBEDDING_DIMENSION is ${space.dimension}`,
        );
      // NaN, infinities or a zero vector would poison every distance computed with it (and answer 500).
      const unusable = vectors.findIndex(
        (vector) => !vector.every(Number.isFinite) || vector.every((v) => v === 0),
      );
      if (unusable !== -1)
        throw new Error(
          `the embedding server answered an unusable vector for input ${unusable}: not finite numbers, or all zeros`,
        );
      options.metrics?.calls.inc({ provider: 'openai', outcome: 'ok' });
      return vectors.map(normalize);
    } catch (error) {
      options.metrics?.calls.inc({ provider: 'openai', outcome: 'error' });
      throw error;
    }
  };

  return {
    space,
    async embed(texts, { signal } = {}) {
      const inputs = texts.map((text) =>
        text.length > MAX_INPUT_CHARS ? text.slice(0, MAX_INPUT_CHARS) : text,
      );
      const batches = planBatches(inputs, options.batchSize, options.batchTokens);
      // The first failed request cancels the others (queued or in flight): the call fails anyway.
      const cancel = new AbortController();
      const combined = signal ? AbortSignal.any([signal, cancel.signal]) : cancel.signal;
      const results = await Promise.all(
        batches.map((batch) =>
          limit(() => {
            combined.throwIfAborted();
            return request(
              batch.map((index) => inputs[index] ?? ''),
              combined,
            );
          }).catch((error: unknown) => {
            cancel.abort(error);
            throw error;
          }),
        ),
      );
      const vectors: Float32Array[] = new Array<Float32Array>(texts.length);
      batches.forEach((batch, batchIndex) =>
        batch.forEach((textIndex, position) => {
          vectors[textIndex] = results[batchIndex]?.[position] ?? new Float32Array(space.dimension);
        }),
      );
      return vectors;
    },
  };
}
