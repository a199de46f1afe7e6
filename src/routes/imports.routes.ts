import type { FastifyPluginAsyncZod } from '@fastify/type-provider-zod';
import type { Readable } from 'node:stream';
import { requireScope } from '../auth/access.ts';
import { ValidationError } from '../errors.ts';
import { PROBLEM_TYPE_PREFIX } from '../errors.ts';
import { ImportTooLargeError } from '../ingest/import-runner.ts';
import { checkImportOptions } from '../ingest/import-options.ts';
import { waitForImportEnd } from '../jobs/import-queue.ts';
import {
  importAcceptedSchema,
  importIdParamsSchema,
  importQuerySchema,
  importStatusSchema,
  importTooLargeProblemSchema,
} from '../schemas/imports.schema.ts';
import { problemResponses } from '../schemas/problem.schema.ts';
import { getImportStatus } from '../services/imports.service.ts';
import { cancellationSignal } from './request-cancellation.ts';

// An import may take hours to upload and process; its handler is given six.
const IMPORT_HANDLER_TIMEOUT_MS = 6 * 60 * 60 * 1000;

export const importRoutes: FastifyPluginAsyncZod = async (app) => {
  // The body is streamed, not parsed: whatever its type, the handler reads it as it arrives.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

  app.post(
    '/imports',
    {
      handlerTimeout: IMPORT_HANDLER_TIMEOUT_MS,
      config: { access: requireScope('ingest') },
      schema: {
        operationId: 'createImport',
        summary: 'Import a file of items, users or events',
        description:
          'Streams the request body (NDJSON, CSV with a header row, or a JSON array; gzip accepted, constant ' +
          'memory) into the catalog. Each record is validated like the single-record endpoints; bad ones are ' +
          'reported with their line and the rest goes in. A record longer than MARQUEE_IMPORT_MAX_RECORD_BYTES ' +
          '(1 MiB by default) is rejected by its line (a CSV row that long stops the import); a body holding more ' +
          'than MARQUEE_IMPORT_MAX_BYTES once decompressed stops there and is answered 413, with the batches ' +
          'before the limit kept. Records are matched by id, so running the same file again changes nothing. ' +
          '`mode=upsert` (the default) writes only the fields a record holds, so a partial mapping never blanks ' +
          'the others (null clears a field); `mode=replace` replaces each whole item or user; `mode=sync` ' +
          'replaces and deletes what the file does not hold. `{"op": "delete", "id": ...}` deletes. Answers 202 once the body is read, or with `wait=true` 200 ' +
          'when the import has ended. An upload that stops before its end fails the import.',
        tags: ['imports'],
        querystring: importQuerySchema,
        response: {
          200: importStatusSchema.describe('wait=true: the import has ended.'),
          202: importAcceptedSchema.describe('The body is read; batches may still be running.'),
          ...problemResponses(400),
          413: importTooLargeProblemSchema,
        },
      },
    },
    async (request, reply) => {
      const { wait, ...query } = request.query;
      const checked = checkImportOptions(query);
      if ('problems' in checked)
        throw new ValidationError(
          checked.problems.map((problem) => ({ path: `query.${problem.option}`, message: problem.message })),
        );
      const body = request.body as Readable | undefined;
      if (!body || typeof (body as Partial<Readable>).pipe !== 'function')
        throw new ValidationError([{ path: 'body', message: 'send the file as the request body' }]);
      let importId: string;
      try {
        importId = await app.imports.run({ ...checked.options, source: 'http' }, body);
      } catch (error) {
        if (!(error instanceof ImportTooLargeError)) throw error;
        // Answered here rather than by the error handler: the problem carries the import's id. The rest of the
        // body is not read, so the connection closes after the answer.
        request.log.info(
          { importId: error.importId },
          'import stopped: larger than MARQUEE_IMPORT_MAX_BYTES',
        );
        return reply
          .code(413)
          .header('connection', 'close')
          .type('application/problem+json; charset=utf-8')
          .send({
            type: `${PROBLEM_TYPE_PREFIX}payload-too-large`,
            title: 'The request body is too large',
            status: 413,
            detail:
              `The import holds more than ${error.maxBytes} bytes once decompressed (MARQUEE_IMPORT_MAX_BYTES): ` +
              'it stopped there and is failed; the batches before the limit were kept.',
            instance: request.url.split('?')[0],
            requestId: request.id,
            importId: error.importId,
            statusUrl: `/v1/imports/${error.importId}`,
          });
      }
      if (wait) {
        await waitForImportEnd(app.db, importId, { signal: cancellationSignal(request, reply) });
        return reply.code(200).send(await getImportStatus(app.db, importId));
      }
      const status = await getImportStatus(app.db, importId);
      return reply
        .code(202)
        .header('location', `/v1/imports/${importId}`)
        .send({ importId, status: status.status, statusUrl: `/v1/imports/${importId}` });
    },
  );

  app.get(
    '/imports/:importId',
    {
      config: { access: requireScope('ingest') },
      schema: {
        operationId: 'getImport',
        summary: 'Progress and outcome of an import',
        description:
          'Counts (received, inserted, updated, unchanged, deleted, failed, embedded), timings, and the first ' +
          '100 rejected records with line and reason.',
        tags: ['imports'],
        params: importIdParamsSchema,
        response: { 200: importStatusSchema, ...problemResponses(400, 404) },
      },
    },
    async (request) => getImportStatus(app.db, request.params.importId),
  );
};
