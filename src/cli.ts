import closeWithGrace from 'close-with-grace';
import { Command } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import { isScope, SCOPES } from './auth/access.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import type { DatabaseHandle } from './db/connect.ts';
import { NotFoundError } from './errors.ts';
import { ApiKeyVerifier, createApiKey, listApiKeySummaries } from './services/api-keys.service.ts';
import { DataDirInUseError } from './db/data-dir-lock.ts';
import { EmbeddingSpaceMismatchError } from './db/embedding-space.ts';
import { MigrationError } from './db/migrate.ts';
import { createLogger, openDatabase, startServer } from './server.ts';

// In-flight requests get this long to finish after SIGTERM/SIGINT before the process exits anyway.
const SHUTDOWN_GRACE_MS = 10_000;

/** A command's wrong usage: printed as a one-line message. */
class CliUsageError extends Error {}

/** Errors an operator can fix from the message alone: printed without a stack trace. */
const OPERATOR_ERRORS = [
  ConfigError,
  EmbeddingSpaceMismatchError,
  DataDirInUseError,
  MigrationError,
  NotFoundError,
  CliUsageError,
];

export function createCli(): Command {
  const program = new Command()
    .name('marquee')
    .description('Marquee: a headless recommendation API for media catalogs.')
    .version(packageJson.version)
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nConfiguration comes from environment variables (PORT, HOST, MARQUEE_DATA_DIR, DATABASE_URL, REDIS_URL, ...);\n' +
        'see .env.example and the README.',
    );

  program
    .command('serve')
    .description(
      'Start the HTTP API: migrates the database, then listens on HOST:PORT until SIGTERM or SIGINT.',
    )
    .action(async () => {
      const config = loadConfig(process.env);
      const logger = createLogger(config);
      const { app, bootstrapKey } = await startServer(config, logger);
      if (bootstrapKey) printBootstrapKey(bootstrapKey, config);
      closeWithGrace({ delay: SHUTDOWN_GRACE_MS, logger }, async ({ signal, err }) => {
        if (err) logger.error({ err }, 'shutting down after an unexpected error');
        else logger.info({ signal }, 'shutting down: finishing in-flight requests');
        await app.close();
      });
    });

  program
    .command('migrate')
    .description('Bring the database schema to the latest version and exit (serve also does this at start).')
    .action(async () => {
      const config = loadConfig(process.env);
      const logger = createLogger(config);
      const database = await openDatabase(config, logger);
      await database.close();
      logger.info({ database: database.mode }, 'database schema is up to date');
    });

  const keys = program
    .command('keys')
    .description('Manage API keys (stop an embedded server first, or use /v1/admin/keys).');
  keys
    .command('create')
    .description('Create an API key and print its secret (shown only this once) on standard output.')
    .requiredOption('--name <name>', 'what the key is for, e.g. "web frontend"')
    .requiredOption('--scope <scope...>', `one or more of ${SCOPES.join(', ')}`)
    .action(async (options: { name: string; scope: string[] }) => {
      const invalid = options.scope.filter((scope) => !isScope(scope));
      if (invalid.length > 0)
        throw new CliUsageError(`unknown scope ${invalid.join(', ')}: use ${SCOPES.join(', ')}`);
      await withDatabase(async (db) => {
        const { key, apiKey } = await createApiKey(db, {
          name: options.name,
          scopes: options.scope.filter(isScope),
        });
        console.error(
          `created ${apiKey.id} "${apiKey.name}" with scopes ${apiKey.scopes.join(', ')}; the secret:`,
        );
        process.stdout.write(`${key}\n`);
      });
    });
  keys
    .command('list')
    .description('List API keys (never their secrets).')
    .action(async () => {
      await withDatabase(async (db) => {
        const rows = await listApiKeySummaries(db);
        const lines = rows.map((key) =>
          [
            key.id,
            key.name,
            key.scopes.join(','),
            key.createdAt,
            key.lastUsedAt ?? '-',
            key.revokedAt ? `revoked ${key.revokedAt}` : 'active',
          ].join('\t'),
        );
        process.stdout.write(`${['id\tname\tscopes\tcreated\tlast used\tstatus', ...lines].join('\n')}\n`);
      });
    });
  keys
    .command('revoke')
    .description('Revoke an API key by its id (mq_xxxxxxxx).')
    .argument('<keyId>', 'the key id shown by `marquee keys list`')
    .action(async (keyId: string) => {
      await withDatabase(async (db) => {
        await new ApiKeyVerifier(db).revoke(keyId);
        console.error(`revoked ${keyId}`);
      });
    });

  return program;
}

async function withDatabase(work: (db: DatabaseHandle['db']) => Promise<void>): Promise<void> {
  const config = loadConfig(process.env);
  // Quiet: these commands print their result on standard output for scripts.
  const database = await openDatabase(config, createLogger({ logLevel: 'warn' }));
  try {
    await work(database.db);
  } finally {
    await database.close();
  }
}

function printBootstrapKey(key: string, config: Config) {
  const base = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}`;
  console.error(
    [
      '',
      '  Marquee created an admin API key. It is shown only this once: store it now.',
      '',
      `    ${key}`,
      '',
      `  Try it:  curl -H "Authorization: Bearer ${key}" ${base}/v1/items`,
      '  Create narrower keys with POST /v1/admin/keys or `marquee keys create`.',
      '',
    ].join('\n'),
  );
}

export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    await createCli().parseAsync([...argv]);
  } catch (error) {
    if (OPERATOR_ERRORS.some((type) => error instanceof type)) {
      console.error(`marquee: ${(error as Error).message}`);
    } else {
      console.error(error);
    }
    process.exitCode = 1;
  }
}
