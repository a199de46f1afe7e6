import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Readable } from 'node:stream';
import { createImport, type ImportRequest, readImport } from '../ingest/import-runner.ts';
import { createInProcessImportQueue, type ImportBatchQueue } from '../jobs/import-queue.ts';

declare module 'fastify' {
  interface FastifyInstance {
    imports: ImportService;
  }
}

export interface ImportService {
  /** Creates an import and reads its source to the end (batches may still be running when it resolves). */
  run(request: ImportRequest, input: Readable, onCreated?: (importId: string) => void): Promise<string>;
}

/** Bulk imports: the queue their batches go to, and the reader that feeds it. */
export const importsPlugin = fp(
  async (app: FastifyInstance, options: { batchSize: number; queue?: ImportBatchQueue }) => {
    const queue =
      options.queue ??
      createInProcessImportQueue(
        { db: app.db, policy: app.embedding.policy, embedder: () => app.embedding.embedder() },
        app.log,
      );
    app.decorate('imports', {
      async run(request, input, onCreated) {
        const importId = await createImport(app.db, request);
        onCreated?.(importId);
        await readImport({ db: app.db, queue, batchSize: options.batchSize }, importId, request, input);
        return importId;
      },
    } satisfies ImportService);
    app.addHook('onClose', async () => {
      await queue.close();
    });
  },
  { name: 'imports', dependencies: ['database', 'embedding'] },
);
