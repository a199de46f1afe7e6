import closeWithGrace from 'close-with-grace';
import { Command } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import { ConfigError, loadConfig } from './config.ts';
import { DataDirInUseError } from './db/data-dir-lock.ts';
import { EmbeddingSpaceMismatchError } from './db/embedding-space.ts';
import { MigrationError } from './db/migrate.ts';
import { createLogger, openDatabase, startServer } from './server.ts';

// In-flight requests get this long to finish after SIGTERM/SIGINT before the process exits anyway.
const SHUTDOWN_GRACE_MS = 10_000;

/** Errors an operator can fix from the message alone: printed without a stack trace. */
const OPERATOR_ERRORS = [ConfigError, EmbeddingSpaceMismatchError, DataDirInUseError, MigrationError];

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
      const app = await startServer(config, logger);
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

  return program;
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
