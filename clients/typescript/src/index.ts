import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, operations, paths } from './schema.js';

export type { components, operations, paths };

/**
 * What the client reads: JSON answers and problems. The streamed forms (server-sent events of chat and of
 * explanation streams) are typed apart (`ChatEvent`, `ExplanationEvent`): read them with EventSource or
 * fetch, so that `data` of a call is the JSON answer alone (`chat.data?.reply` compiles).
 */
type JsonMedia = 'application/json' | 'application/problem+json';

/** The typed client: `GET`, `POST`, `PUT`, `PATCH`, `DELETE` take a path of the API and its typed params. */
export type MarqueeClient = Client<paths, JsonMedia>;

/** A credential, or a function that returns the current one (a user token refreshed before it expires). */
export type Credential = string | (() => string | Promise<string>);

export interface MarqueeClientOptions {
  /** Where the API is served, such as `https://marquee.example.com` (no trailing `/v1`). */
  baseUrl: string;
  /** An API key (`mq_…`), for servers: a frontend's backend, an ingestion job. Never ship one to a browser. */
  apiKey?: Credential;
  /** A user token (POST /v1/admin/user-tokens), for browsers and apps: that user's recommendations and events. */
  userToken?: Credential;
  /** The fetch to use; the global one by default. */
  fetch?: (request: Request) => Promise<Response>;
}

/**
 * A client of the Marquee API, typed from its OpenAPI document. Each call answers `{ data }` on success or
 * `{ error }` (an RFC 9457 `Problem`) otherwise, with the `response` for status and headers. The API key or
 * user token goes in `Authorization: Bearer …` on every request, unless a call sets its own header.
 */
export function createMarqueeClient(options: MarqueeClientOptions): MarqueeClient {
  if (options.apiKey !== undefined && options.userToken !== undefined) {
    // Both travel in the same header: the server would only ever see one of them.
    throw new TypeError('createMarqueeClient: give an apiKey or a userToken, not both');
  }
  const client = createClient<paths, JsonMedia>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    ...(options.fetch && { fetch: options.fetch }),
  });
  const credential = options.apiKey ?? options.userToken;
  if (credential !== undefined) client.use(bearerAuth(credential));
  return client;
}

function bearerAuth(credential: Credential): Middleware {
  return {
    async onRequest({ request }) {
      if (request.headers.has('authorization')) return;
      const token = typeof credential === 'function' ? await credential() : credential;
      request.headers.set('authorization', `Bearer ${token}`);
    },
  };
}

type Schemas = components['schemas'];

// The shapes a frontend handles most, by their names in the OpenAPI document.
export type Problem = Schemas['Problem'];
export type Item = Schemas['Item'];
export type ItemList = Schemas['ItemList'];
export type ItemWriteInput = Schemas['ItemWriteInput'];
export type ItemPatchInput = Schemas['ItemPatchInput'];
export type ItemFiltersInput = Schemas['ItemFiltersInput'];
export type User = Schemas['User'];
export type UserWriteInput = Schemas['UserWriteInput'];
export type UserToken = Schemas['UserToken'];
export type Event = Schemas['Event'];
export type EventList = Schemas['EventList'];
export type EventWriteInput = Schemas['EventWriteInput'];
export type EventBatchInput = Schemas['EventBatchInput'];
export type EventBatchResult = Schemas['EventBatchResult'];
export type RecommendationPage = Schemas['RecommendationPage'];
export type RecommendedItem = Schemas['RecommendedItem'];
export type RecommendationReason = Schemas['RecommendationReason'];
export type Explanation = Schemas['Explanation'];
export type SessionRecommendationRequestInput = Schemas['SessionRecommendationRequestInput'];
export type SearchRequestInput = Schemas['SearchRequestInput'];
export type SearchResults = Schemas['SearchResults'];
export type TrendingPage = Schemas['TrendingPage'];
export type ChatRequestInput = Schemas['ChatRequestInput'];
/** The JSON answer of POST /v1/chat. */
export type ChatAnswer = Schemas['ChatAnswer'];
/** One server-sent event of POST /v1/chat with `Accept: text/event-stream` (items, reply pieces, done). */
export type ChatEvent = Schemas['ChatEvent'];
/** One server-sent event of an explanation stream (`explanationStream.url`). */
export type ExplanationEvent = Schemas['ExplanationEvent'];
