import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from '@fastify/type-provider-zod';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import { randomUUID } from 'node:crypto';
import type { Cache } from './cache/cache.ts';
import type { ChatStrategies } from './chat/chat-strategies.ts';
import type { Embedder } from './embedding/embedder.ts';
import { instrumentCache } from './cache/instrumented-cache.ts';
import { createAppMetrics } from './metrics.ts';
import type { Config } from './config.ts';
import type { DatabaseHandle } from './db/connect.ts';
import { cachePlugin } from './plugins/cache.plugin.ts';
import { databasePlugin } from './plugins/database.plugin.ts';
import { authPlugin } from './plugins/auth.plugin.ts';
import { loadSheddingPlugin } from './plugins/load-shedding.plugin.ts';
import { metricsPlugin } from './plugins/metrics.plugin.ts';
import { embeddingPlugin } from './plugins/embedding.plugin.ts';
import { importsPlugin } from './plugins/imports.plugin.ts';
import { modelTrainingPlugin } from './plugins/model-training.plugin.ts';
import { importRoutes } from './routes/imports.routes.ts';
import { rateLimitPlugin } from './plugins/rate-limit.plugin.ts';
import { retentionPlugin } from './plugins/retention.plugin.ts';
import { securityPlugin } from './plugins/security.plugin.ts';
import {
  answerClientError,
  answerFrameworkError,
  errorHandlerPlugin,
} from './plugins/error-handler.plugin.ts';
import { openapiPlugin } from './plugins/openapi.plugin.ts';
import { eventRoutes } from './routes/events.routes.ts';
import { feedbackRoutes } from './routes/feedback.routes.ts';
import { profileSettings } from './services/profiles.service.ts';
import { healthRoutes } from './routes/health.routes.ts';
import { itemRoutes } from './routes/items.routes.ts';
import { userRoutes } from './routes/users.routes.ts';
import { adminRoutes } from './routes/admin.routes.ts';
import { recommenderPlugin } from './plugins/recommender.plugin.ts';
import { llmPlugin } from './plugins/llm.plugin.ts';
import { explanationsPlugin } from './plugins/explanations.plugin.ts';
import { explanationRoutes } from './routes/explanations.routes.ts';
import { fastifySSE } from '@fastify/sse';
import { recommendationRoutes } from './routes/recommendations.routes.ts';
import { chatPlugin } from './plugins/chat.plugin.ts';
import { chatRoutes } from './routes/chat.routes.ts';
import { searchRoutes } from './routes/search.routes.ts';
import { statsRoutes } from './routes/stats.routes.ts';
import { trendingRoutes } from './routes/trending.routes.ts';

export interface AppDependencies {
  config: Config;
  /** An open, migrated database; the app closes it on close. */
  database: DatabaseHandle;
  /** The cache; the app closes it on close. */
  cache: Cache;
  /** The embedder; by default the configured one, created on first use. */
  embedder?: Embedder;
  /** The chat's message parser and reply writer; by default the offline ones (rules and templates). */
  chat?: Partial<ChatStrategies>;
  /** Pino options or an instance; defaults to JSON logs at config.logLevel. */
  logger?: FastifyServerOptions['loggerInstance'] | Exclude<FastifyServerOptions['logger'], boolean>;
}

// 1 MiB covers any single item or user; routes that take batches raise their own limit.
export const DEFAULT_BODY_LIMIT = 1024 * 1024;
const REQUEST_ID_HEADER = 'x-request-id';
const INCOMING_REQUEST_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

/** Builds the whole API on the given clients, without listening: tests inject requests, the server listens. */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const logger = deps.logger ?? { level: deps.config.logLevel };
  const app = Fastify({
    ...(isLoggerInstance(logger) ? { loggerInstance: logger } : { logger }),
    bodyLimit: DEFAULT_BODY_LIMIT,
    // Cooperative: the client gets a 503 problem at once, request.signal tells the work to stop.
    handlerTimeout: deps.config.requestTimeoutMs,
    // A client that takes longer than this to send its request is cut off: 60 s for the headers (slow-loris),
    // an hour for a whole request body (bulk imports stream large files).
    requestTimeout: 3_600_000,
    // Keep a caller's request id (from a gateway) when it is sane, so logs line up across services.
    genReqId: (request) => {
      const incoming = request.headers[REQUEST_ID_HEADER];
      return typeof incoming === 'string' && INCOMING_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    logController: new OneLineRequestLog({ requestIdLogLabel: 'requestId' }),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
    // A hop count is a TrustProxyFunction (the address at that depth is trusted); Fastify's types omit numbers.
    trustProxy: trustProxyOption(deps.config.trustProxy),
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // JSON only: a text/plain body to a JSON route is a client mistake (415), not a string to validate.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(
    'application/merge-patch+json',
    { parseAs: 'string' },
    app.getDefaultJsonParser('error', 'error'),
  );
  app.addHook('onSend', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
  });
  // A client that asks to close the connection gets `Connection: close` on every answer, server-sent events
  // included (@fastify/sse would otherwise promise keep-alive), and Node closes the socket after it.
  app.addHook('onRequest', async (request, reply) => {
    if (/\bclose\b/i.test(request.headers.connection ?? '')) reply.header('connection', 'close');
  });

  await app.register(errorHandlerPlugin);
  await app.register(databasePlugin, { database: deps.database });
  const metrics = createAppMetrics();
  await app.register(loadSheddingPlugin, {
    maxDatabaseQueue: deps.config.maxDatabaseQueue,
    busyResponses: metrics.busyResponses,
  });
  await app.register(cachePlugin, { cache: instrumentCache(deps.cache, metrics.cacheOperations) });
  await app.register(securityPlugin, { corsOrigins: deps.config.corsOrigins });
  await app.register(authPlugin, {
    adminKey: deps.config.adminKey,
    failuresPerMinute: deps.config.rateLimits.authFailures,
  });
  await app.register(rateLimitPlugin, {
    limits: deps.config.rateLimits,
    redisUrl: deps.config.redis?.url,
    keyPrefix: deps.config.redis?.keyPrefix ?? 'marquee:',
  });
  await app.register(openapiPlugin);
  // After the OpenAPI plugin, so that /metrics is documented (and walked by the access test) like any route.
  await app.register(metricsPlugin, { metrics });
  await app.register(recommenderPlugin, {
    recommender: deps.config.recommender,
    embeddingModel: deps.config.embedding.model,
  });
  await app.register(embeddingPlugin, { config: deps.config, embedder: deps.embedder });
  await app.register(llmPlugin, { config: deps.config.llm });
  await app.register(explanationsPlugin, {
    settings: deps.config.explanations,
    eventWeights: deps.config.recommender.eventWeights,
  });
  // Server-sent events: explain=async streams and the streaming form of chat.
  await app.register(fastifySSE);
  await app.register(chatPlugin, {
    sessionTtlHours: deps.config.chat.sessionTtlHours,
    budgetMs: deps.config.chat.budgetMs,
    strategies: deps.chat,
  });
  await app.register(modelTrainingPlugin, {
    recommender: deps.config.recommender,
    jobs: deps.config.jobs,
    redis: deps.config.redis,
  });
  await app.register(retentionPlugin, { days: deps.config.eventRetentionDays });
  await app.register(importsPlugin, {
    profiles: profileSettings(deps.config),
    batchSize: deps.config.importBatchSize,
    eventBatchSize: deps.config.importEventBatchSize,
    imports: deps.config.imports,
    jobs: deps.config.jobs,
    redis: deps.config.redis,
    // The training scheduler sees an import's events like any others; cached pages predate them.
    onImportEnded: () => void app.pageCache.invalidateCatalog(),
    // Items that an import could not embed are recommendable by content once the sweeper has embedded them.
    onItemsEmbedded: () =>
      void Promise.resolve(app.recommender.model?.refresh()).then(() => app.pageCache.invalidateCatalog()),
  });

  await app.register(healthRoutes);
  await app.register(itemRoutes, { prefix: '/v1' });
  await app.register(userRoutes, { prefix: '/v1' });
  await app.register(eventRoutes, { prefix: '/v1', profiles: profileSettings(deps.config) });
  await app.register(feedbackRoutes, { prefix: '/v1', profiles: profileSettings(deps.config) });
  await app.register(adminRoutes, { prefix: '/v1' });
  await app.register(importRoutes, { prefix: '/v1' });
  await app.register(searchRoutes, { prefix: '/v1' });
  await app.register(trendingRoutes, { prefix: '/v1' });
  await app.register(statsRoutes, { prefix: '/v1' });
  await app.register(recommendationRoutes, { prefix: '/v1' });
  await app.register(chatRoutes, { prefix: '/v1' });
  await app.register(explanationRoutes, { prefix: '/v1' });

  return app;
}

/**
 * One log line per request, when it completes, holding the request and the response, instead of Fastify's
 * two (incoming, completed): request logging was 5 to 9 % of a cached page's CPU.
 */
class OneLineRequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (this.isLogDisabled(request)) return;
    const req = loggedRequest(request);
    if (error)
      reply.log.error({ req, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.info({ req, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

// URLs that are secrets themselves (an explanation stream is read by its unguessable id, without credentials).
const CAPABILITY_URL = /^(\/v1\/explanations\/)[^/?#]+/;

/**
 * What a request line says about the request, in the shape Fastify's `req` serializer reads: the URL with
 * capability ids redacted, never headers or bodies.
 */
function loggedRequest(request: FastifyRequest) {
  return {
    method: request.method,
    url: request.url.replace(CAPABILITY_URL, '$1[redacted]'),
    host: request.host,
    ip: request.ip,
    socket: { remotePort: request.socket?.remotePort },
  };
}

function trustProxyOption(
  setting: boolean | number | string,
): boolean | string | ((address: string, hop: number) => boolean) {
  return typeof setting === 'number' ? (_address, hop) => hop < setting : setting;
}

function isLoggerInstance(logger: unknown): logger is NonNullable<FastifyServerOptions['loggerInstance']> {
  return (
    typeof logger === 'object' &&
    logger !== null &&
    typeof (logger as { child?: unknown }).child === 'function'
  );
}
