import { createHash, randomBytes } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A local stand-in for the OpenAI API (and the servers that copy it: vLLM, Ollama, LiteLLM...), for tests and
 * benchmarks: deterministic embeddings, scripted chat completions (plain or streamed), injected latency and
 * failures, and a record of every request with the peak number in flight. It speaks the wire format the
 * official `openai` client expects, so code under test runs its real client against it.
 */

export interface RecordedRequest {
  method: string;
  /** The path without the query string, e.g. `/v1/embeddings`. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; undefined when there was none or it was not JSON. */
  body: unknown;
  rawBody: string;
  /** When the request arrived, in epoch milliseconds with sub-millisecond precision (monotonic). */
  time: number;
  /** The status answered; undefined while the request is still in flight (or hanging). */
  status?: number;
  /** The usage the server reported for this request. */
  usage?: { prompt_tokens: number; completion_tokens?: number; total_tokens: number };
}

/** What the next requests get instead of a normal answer. */
export type InjectedFailure = (
  | {
      status: number;
      /** Sent as the Retry-After header (seconds). */
      retryAfterSeconds?: number;
      /** The JSON body; an OpenAI-shaped error by default. */
      body?: unknown;
    }
  /** Never answers: the client has to time out (or the server be closed). */
  | { hang: true }
) & {
  /** Only requests to this path (e.g. `/v1/chat/completions`) fail; all by default. */
  path?: string;
};

export interface ChatRequestBody {
  model?: string;
  messages?: { role?: string; content?: unknown }[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  response_format?: { type?: string; json_schema?: unknown };
  tools?: unknown[];
  [key: string]: unknown;
}

export interface ChatToolCall {
  id?: string;
  name: string;
  /** A JSON string, or a value to serialise. */
  arguments: unknown;
}

export type ChatReply =
  | string
  | {
      content?: string | null;
      toolCalls?: ChatToolCall[];
      /** Waited before answering (before the first chunk when streaming), on top of the latency. */
      delayMs?: number;
      /** Waited between streamed chunks; overrides the server's streamChunkDelayMs. */
      chunkDelayMs?: number;
    };

export type ChatScript = ChatReply | ((body: ChatRequestBody) => ChatReply | Promise<ChatReply>);

export interface OpenAiTestServerOptions {
  /** Added to every answer (200 ms imitates a real provider in benchmarks). */
  latencyMs?: number;
  /** The dimension of embeddings when a request names none (OpenAI's text-embedding-3-small: 1536). */
  defaultDimension?: number;
  /** Answer embeddings of this dimension whatever was asked: a misconfigured or swapped model. */
  forceDimension?: number;
  /** Answer unusable vectors (NaN everywhere, or all zeros), as a broken or hostile server might. */
  unusableEmbeddings?: 'nan' | 'zero';
  /** Answer embedding entries in reverse order (each still carries its index), as nothing forbids it. */
  reverseEmbeddingOrder?: boolean;
  /** Answer embeddings as arrays of numbers even when base64 was asked for, as some compatible servers do. */
  ignoreEncodingFormat?: boolean;
  /** Answer for chat completions once the script is used up; an echo of the last user message by default. */
  chat?: (body: ChatRequestBody) => ChatReply | Promise<ChatReply>;
  /** Pause between streamed chunks. */
  streamChunkDelayMs?: number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>` or get a 401. */
  apiKey?: string;
  /** Listed by GET /v1/models. */
  models?: string[];
}

export interface OpenAiTestServer {
  /** The base URL to give the client, ending in /v1. */
  readonly url: string;
  /** Every request so far, in arrival order (a live array). */
  readonly requests: RecordedRequest[];
  /** The most requests in flight at once so far. */
  readonly peakConcurrency: number;
  /** Requests in flight now. */
  readonly inFlight: number;
  setLatency(ms: number): void;
  /** The next `count` requests (to `failure.path`, if given) fail this way. */
  failNext(count: number, failure: InjectedFailure): void;
  /** Queues chat answers, used one per chat request before falling back to the `chat` option. */
  scriptChat(...replies: ChatScript[]): void;
  /** Forgets recorded requests, the peak concurrency, pending failures and the chat script. */
  reset(): void;
  close(): Promise<void>;
}

const DEFAULT_MODELS = ['text-embedding-3-small', 'text-embedding-3-large', 'gpt-4o-mini', 'gpt-4.1-mini'];
// OpenAI's own limit on inputs per embeddings request.
const MAX_EMBEDDING_INPUTS = 2048;

/** About four characters a token, as OpenAI's guidance for English; at least one token per input. */
export const estimateTestTokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

/**
 * The unit vector this server answers for a text: a PRNG seeded from the text's SHA-256, so the same text
 * always gets the same vector and different texts get unrelated ones. Float32 values, as sent on the wire.
 */
export function deterministicEmbedding(text: string, dimension: number): Float32Array {
  const seed = createHash('sha256').update(text).digest();
  // sfc32: small, fast and good enough to make unrelated texts near-orthogonal.
  let a = seed.readUInt32LE(0);
  let b = seed.readUInt32LE(4);
  let c = seed.readUInt32LE(8);
  let d = seed.readUInt32LE(12);
  const next = () => {
    const result = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + result) | 0;
    return (result >>> 0) / 4_294_967_296;
  };
  const values = new Float64Array(dimension);
  let norm = 0;
  for (let index = 0; index < dimension; index++) {
    const value = next() * 2 - 1;
    values[index] = value;
    norm += value * value;
  }
  norm = Math.sqrt(norm) || 1;
  return Float32Array.from(values, (value) => value / norm);
}

const openAiError = (
  message: string,
  type: string,
  code: string | null = null,
  param: string | null = null,
) => ({
  error: { message, type, param, code },
});

const defaultFailureBody = (status: number) =>
  status === 429
    ? openAiError(
        'Rate limit reached for requests (injected by the test server).',
        'requests',
        'rate_limit_exceeded',
      )
    : status >= 500
      ? openAiError('The server had an error while processing your request (injected).', 'server_error')
      : openAiError(`Injected failure with status ${status}.`, 'invalid_request_error');

class RequestError extends Error {
  readonly status: number;
  readonly body: unknown;

  constructor(status: number, body: ReturnType<typeof openAiError>) {
    super(body.error.message);
    this.status = status;
    this.body = body;
  }
}

const invalid = (message: string, param: string | null = null) =>
  new RequestError(400, openAiError(message, 'invalid_request_error', null, param));

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The texts of an embeddings `input`: a string, strings, or token arrays (kept as their JSON). */
function embeddingInputs(input: unknown): string[] {
  const bad = () => invalid("'$.input' is invalid. Please check the API reference.", 'input');
  if (typeof input === 'string') {
    if (input === '') throw bad();
    return [input];
  }
  if (!Array.isArray(input) || input.length === 0) throw bad();
  if (input.every((entry) => typeof entry === 'number')) return [JSON.stringify(input)];
  return input.map((entry: unknown) => {
    if (typeof entry === 'string' && entry !== '') return entry;
    if (Array.isArray(entry) && entry.length > 0 && entry.every((token) => typeof token === 'number'))
      return JSON.stringify(entry);
    throw bad();
  });
}

const littleEndianBase64 = (vector: Float32Array) => {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((value, index) => bytes.writeFloatLE(value, index * 4));
  return bytes.toString('base64');
};

/** The text of a chat message's content: a string or an array of parts. */
function messageText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content
      .map((part: unknown) => (isRecord(part) && typeof part.text === 'string' ? part.text : ''))
      .join('');
  return '';
}

function defaultChatReply(body: ChatRequestBody): ChatReply {
  const lastUser = [...(body.messages ?? [])].reverse().find((message) => message.role === 'user');
  const echo = messageText(lastUser?.content);
  const format = body.response_format?.type;
  if (format === 'json_object' || format === 'json_schema') return JSON.stringify({ echo });
  return `Echo: ${echo}`;
}

/** Splits text into stream chunks of a word each, keeping the whitespace, as a model streams tokens. */
const streamPieces = (text: string) => text.match(/\s*\S+\s*/g) ?? (text === '' ? [] : [text]);

export async function startOpenAiTestServer(
  options: OpenAiTestServerOptions = {},
): Promise<OpenAiTestServer> {
  const requests: RecordedRequest[] = [];
  let latencyMs = options.latencyMs ?? 0;
  let inFlight = 0;
  let peakConcurrency = 0;
  let failures: { remaining: number; failure: InjectedFailure }[] = [];
  let chatScript: ChatScript[] = [];
  // Aborted on close, so that latency waits, chunk delays and hanging requests end at once.
  const closing = new AbortController();

  const wait = async (ms: number) => {
    if (ms <= 0) return;
    try {
      await sleep(ms, undefined, { signal: closing.signal });
    } catch {
      // Closed meanwhile: the answer is dropped with the connection.
    }
  };

  const gone = (response: ServerResponse) => response.destroyed || response.writableEnded;

  const sendJson = (
    response: ServerResponse,
    record: RecordedRequest,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    record.status = status;
    if (gone(response)) return;
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify(body));
  };

  const takeFailure = (path: string): InjectedFailure | undefined => {
    const entry = failures.find(
      (candidate) => candidate.remaining > 0 && (candidate.failure.path ?? path) === path,
    );
    if (!entry) return undefined;
    entry.remaining--;
    failures = failures.filter((candidate) => candidate.remaining > 0);
    return entry.failure;
  };

  const embeddings = (body: unknown, record: RecordedRequest) => {
    if (!isRecord(body)) throw invalid('The body must be a JSON object.');
    if (typeof body.model !== 'string' || body.model === '')
      throw invalid('you must provide a model parameter', 'model');
    const texts = embeddingInputs(body.input);
    if (texts.length > MAX_EMBEDDING_INPUTS)
      throw invalid(`'$.input' must have at most ${MAX_EMBEDDING_INPUTS} items.`, 'input');
    const asked = body.dimensions;
    if (asked !== undefined && (typeof asked !== 'number' || !Number.isInteger(asked) || asked < 1))
      throw invalid("'$.dimensions' must be a positive integer.", 'dimensions');
    const format = body.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64')
      throw invalid("'$.encoding_format' must be 'float' or 'base64'.", 'encoding_format');
    const dimension = options.forceDimension ?? asked ?? options.defaultDimension ?? 1536;
    const data = texts.map((text, index) => {
      const vector = options.unusableEmbeddings
        ? new Float32Array(dimension).fill(options.unusableEmbeddings === 'nan' ? Number.NaN : 0)
        : deterministicEmbedding(text, dimension);
      return {
        object: 'embedding',
        index,
        embedding:
          format === 'base64' && !options.ignoreEncodingFormat
            ? littleEndianBase64(vector)
            : Array.from(vector),
      };
    });
    if (options.reverseEmbeddingOrder) data.reverse();
    const promptTokens = texts.reduce((sum, text) => sum + estimateTestTokens(text), 0);
    record.usage = { prompt_tokens: promptTokens, total_tokens: promptTokens };
    return { object: 'list', data, model: body.model, usage: record.usage };
  };

  const chatCompletion = async (body: unknown, record: RecordedRequest, response: ServerResponse) => {
    if (!isRecord(body)) throw invalid('The body must be a JSON object.');
    const request = body as ChatRequestBody;
    if (typeof request.model !== 'string' || request.model === '')
      throw invalid('you must provide a model parameter', 'model');
    if (!Array.isArray(request.messages) || request.messages.length === 0)
      throw invalid("'$.messages' must be a non-empty array.", 'messages');
    const scripted = chatScript.shift() ?? options.chat ?? defaultChatReply;
    const reply = typeof scripted === 'function' ? await scripted(request) : scripted;
    const shaped: Exclude<ChatReply, string> = typeof reply === 'string' ? { content: reply } : reply;
    const {
      content = null,
      toolCalls = [],
      delayMs = 0,
      chunkDelayMs = options.streamChunkDelayMs ?? 0,
    } = shaped;
    await wait(delayMs);
    const calls = toolCalls.map((call, index) => ({
      id: call.id ?? `call_${index}_${randomBytes(6).toString('hex')}`,
      type: 'function' as const,
      function: {
        name: call.name,
        arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
      },
    }));
    const promptTokens = request.messages.reduce(
      (sum, message) => sum + estimateTestTokens(messageText(message.content)),
      0,
    );
    const completionTokens =
      estimateTestTokens(content ?? '') +
      calls.reduce((sum, call) => sum + estimateTestTokens(call.function.arguments), 0);
    record.usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };
    const id = `chatcmpl-${randomBytes(8).toString('hex')}`;
    const created = Math.floor(Date.now() / 1000);
    const finishReason = calls.length > 0 ? 'tool_calls' : 'stop';
    const base = { id, created, model: request.model, system_fingerprint: 'fp_marquee_test' };

    if (!request.stream) {
      sendJson(response, record, 200, {
        ...base,
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content,
              refusal: null,
              ...(calls.length > 0 && { tool_calls: calls }),
            },
            logprobs: null,
            finish_reason: finishReason,
          },
        ],
        usage: record.usage,
      });
      return;
    }

    record.status = 200;
    if (gone(response)) return;
    response.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
      ...base,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
    const events: unknown[] = [chunk({ role: 'assistant', content: '', refusal: null }, null)];
    for (const piece of streamPieces(content ?? '')) events.push(chunk({ content: piece }, null));
    calls.forEach((call, index) =>
      events.push(
        chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: call.function }] }, null),
      ),
    );
    events.push(chunk({}, finishReason));
    if (request.stream_options?.include_usage)
      events.push({ ...base, object: 'chat.completion.chunk', choices: [], usage: record.usage });
    for (const [index, event] of events.entries()) {
      if (index > 0) await wait(chunkDelayMs);
      if (gone(response)) return;
      response.write(`data: ${JSON.stringify(event)}\n\n`);
    }
    if (!gone(response)) response.end('data: [DONE]\n\n');
  };

  const models = () => ({
    object: 'list',
    data: (options.models ?? DEFAULT_MODELS).map((id) => ({
      id,
      object: 'model',
      created: 1_700_000_000,
      owned_by: 'marquee-test',
    })),
  });

  const handle = async (incoming: IncomingMessage, response: ServerResponse) => {
    const time = performance.timeOrigin + performance.now();
    inFlight++;
    peakConcurrency = Math.max(peakConcurrency, inFlight);
    response.on('close', () => inFlight--);
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    let badJson = false;
    if (rawBody !== '')
      try {
        body = JSON.parse(rawBody);
      } catch {
        badJson = true;
      }
    const path = new URL(incoming.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
    const method = incoming.method ?? 'GET';
    const record: RecordedRequest = { method, path, headers: incoming.headers, body, rawBody, time };
    requests.push(record);

    const failure = takeFailure(path);
    if (failure && 'hang' in failure) return; // Answered by nobody: ends when the client gives up or on close.
    await wait(latencyMs);
    if (failure) {
      sendJson(
        response,
        record,
        failure.status,
        failure.body ?? defaultFailureBody(failure.status),
        failure.retryAfterSeconds === undefined ? {} : { 'retry-after': String(failure.retryAfterSeconds) },
      );
      return;
    }
    try {
      if (options.apiKey !== undefined && incoming.headers.authorization !== `Bearer ${options.apiKey}`)
        throw new RequestError(
          401,
          openAiError('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'),
        );
      if (badJson)
        throw invalid(
          "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)",
        );
      if (method === 'POST' && path === '/v1/embeddings')
        sendJson(response, record, 200, embeddings(body, record));
      else if (method === 'POST' && path === '/v1/chat/completions')
        await chatCompletion(body, record, response);
      else if (method === 'GET' && path === '/v1/models') sendJson(response, record, 200, models());
      else if (method === 'GET' && path.startsWith('/v1/models/')) {
        const model = models().data.find((entry) => `/v1/models/${entry.id}` === path);
        if (!model)
          throw new RequestError(
            404,
            openAiError(
              `The model '${path.slice('/v1/models/'.length)}' does not exist`,
              'invalid_request_error',
              'model_not_found',
            ),
          );
        sendJson(response, record, 200, model);
      } else
        throw new RequestError(
          404,
          openAiError(`Invalid URL (${method} ${path})`, 'invalid_request_error', 'unknown_url'),
        );
    } catch (error) {
      if (error instanceof RequestError) sendJson(response, record, error.status, error.body);
      else
        sendJson(
          response,
          record,
          500,
          openAiError(`The test server failed: ${String(error)}`, 'server_error'),
        );
    }
  };

  const server: Server = createServer((incoming, response) => {
    void handle(incoming, response).catch(() => {
      if (!gone(response)) response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the OpenAI test server has no port');

  return {
    url: `http://127.0.0.1:${address.port}/v1`,
    requests,
    get peakConcurrency() {
      return peakConcurrency;
    },
    get inFlight() {
      return inFlight;
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    failNext(count, failure) {
      if (count > 0) failures.push({ remaining: count, failure });
    },
    scriptChat(...replies) {
      chatScript.push(...replies);
    },
    reset() {
      requests.length = 0;
      peakConcurrency = inFlight;
      failures = [];
      chatScript = [];
    },
    async close() {
      closing.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
