import fc from 'fast-check';
import t from 'tap';
import { ConfigError, loadConfig } from '../src/config.ts';

t.test(
  'with no environment: embedded database in ./.marquee, memory cache, port 8080 on loopback',
  async (t) => {
    const config = loadConfig({});
    t.match(config, {
      port: 8080,
      host: '127.0.0.1',
      logLevel: 'info',
      database: { kind: 'embedded', dataDir: './.marquee' },
      redis: undefined,
      adminKey: undefined,
      embedding: { model: 'marquee-local-v1', dimension: 256 },
    });
    t.ok(Object.isFrozen(config) && Object.isFrozen(config.database), 'frozen');
  },
);

t.test('served mode from DATABASE_URL and REDIS_URL; empty strings count as unset', async (t) => {
  const config = loadConfig({
    DATABASE_URL: 'postgres://marquee@db:5432/marquee',
    REDIS_URL: 'redis://cache:6379/0',
    PORT: '9000',
    HOST: '0.0.0.0',
    LOG_LEVEL: 'WARN',
    OPENAI_API_KEY: '',
    MARQUEE_DATA_DIR: 'memory',
  });
  t.match(config, {
    port: 9000,
    host: '0.0.0.0',
    logLevel: 'warn',
    database: { kind: 'postgres', url: 'postgres://marquee@db:5432/marquee', poolSize: 10 },
    redis: { url: 'redis://cache:6379/0', keyPrefix: 'marquee:' },
    openai: { apiKey: undefined },
  });
  t.match(loadConfig({ MARQUEE_DATA_DIR: 'memory' }).database, { kind: 'embedded', dataDir: 'memory' });
});

t.test('every bad variable is named in one error', async (t) => {
  const error = (() => {
    try {
      loadConfig({
        PORT: 'eighty',
        DATABASE_URL: 'mysql://x',
        REDIS_URL: 'not a url',
        LOG_LEVEL: 'loud',
        MARQUEE_ADMIN_KEY: 'short',
        MARQUEE_EMBEDDING_DIMENSION: '1',
      });
    } catch (caught) {
      return caught;
    }
  })();
  t.ok(error instanceof ConfigError);
  const message = (error as Error).message;
  for (const variable of [
    'PORT',
    'DATABASE_URL',
    'REDIS_URL',
    'LOG_LEVEL',
    'MARQUEE_ADMIN_KEY',
    'MARQUEE_EMBEDDING_DIMENSION',
  ]) {
    t.match(message, new RegExp(`^  ${variable}: `, 'm'), `names ${variable}`);
  }
  t.match(message, /PORT: must be a number \(got "eighty"\)/);
  t.throws(
    () => loadConfig({ MARQUEE_ADMIN_KEY: 'a'.repeat(31) }),
    { message: /MARQUEE_ADMIN_KEY: must be at least 32 characters/ },
    'an admin key of 31 characters is refused',
  );
  t.equal(loadConfig({ MARQUEE_ADMIN_KEY: 'a'.repeat(32) }).adminKey, 'a'.repeat(32), '32 are enough');
  t.match(message, /DATABASE_URL: must start with postgres:\/\/ or postgresql:\/\//);
});

t.test('any port string either loads as a valid port or is refused naming PORT', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.integer().map(String)), (port) => {
      try {
        const config = loadConfig({ PORT: port });
        return Number.isInteger(config.port) && config.port >= 1 && config.port <= 65_535;
      } catch (error) {
        return error instanceof ConfigError && error.problems.every((problem) => problem.variable === 'PORT');
      }
    }),
    { numRuns: 300 },
  );
  t.pass('300 generated values');
});
