import { readFile } from 'node:fs/promises';
import t from 'tap';
import { CLIENT_SCHEMA, generateClientSchema } from '../scripts/generate-client.ts';

t.test(
  'the typed client matches openapi/openapi.json (run `npm run client:generate` after `npm run openapi`)',
  async (t) => {
    const committed = await readFile(CLIENT_SCHEMA, 'utf8');
    t.equal(
      await generateClientSchema(),
      committed,
      'clients/typescript/src/schema.ts is out of date with openapi/openapi.json: run `npm run client:generate`',
    );
  },
);
