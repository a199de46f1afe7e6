import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { netflixAbsent } from './helpers/netflix.ts';
import { sampleMismatch, shellBlocks, type TourCommand, tourCommands } from './helpers/readme-samples.ts';
import { buildTestApp, TEST_ADMIN_KEY } from './helpers/test-app.ts';

// Issue 17: the README's API tour runs as written. Its shell blocks are run in order, one command at a time,
// against a fresh server (the tour itself imports the netflix catalog first); each call must answer 2xx (or
// the status its sample shows) and the shape of its sample; ids the samples show as `…` placeholders are
// carried to the later commands that use them.
const README = new URL('../README.md', import.meta.url);
const run = promisify(execFile);
// What `mq` is in the README, plus the status on a line of its own after the body.
const PRELUDE = [
  'set -o pipefail',
  'curl() { command curl -s -w "\\n__STATUS__%{http_code}\\n" "$@"; }',
  'mq() { curl -H "Authorization: Bearer $MARQUEE_KEY" "$@"; }',
].join('\n');

t.test(
  'the README tour runs as a sequence, each answer as its sample shows',
  { skip: netflixAbsent },
  async (t) => {
    const blocks = shellBlocks(await readFile(README, 'utf8'), '## API tour', '### Typed client');
    const commands = blocks.flatMap(tourCommands);
    t.ok(commands.filter((command) => command.isCall).length >= 20, `${commands.length} commands`);

    const { app } = await buildTestApp(t, { env: { MARQUEE_CHAT_BUDGET_MS: '1000' } });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const bound = new Map<string, string>();
    const setup: string[] = [];
    const withPlaceholders = (text: string) => {
      let result = text.replaceAll('http://127.0.0.1:8080', base);
      // Longest first: "s7…" before a shorter placeholder it contains.
      for (const [placeholder, value] of [...bound].sort(([a], [b]) => b.length - a.length))
        result = result.replaceAll(placeholder, value);
      return result;
    };

    for (const entry of commands) {
      const command = withPlaceholders(entry.command);
      // The key is the test's; the README's alias is the function above.
      if (/^\s*(export MARQUEE_KEY=|alias mq=)/.test(command)) continue;
      if (!entry.isCall) {
        setup.push(command);
        continue;
      }
      const { stdout } = await run('bash', ['-c', [PRELUDE, ...setup, command].join('\n')], {
        cwd: new URL('..', import.meta.url).pathname,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', MARQUEE_KEY: TEST_ADMIN_KEY },
        maxBuffer: 64 * 1024 * 1024,
        timeout: 120_000,
      });
      const statusAt = stdout.lastIndexOf('__STATUS__');
      const status = Number(stdout.slice(statusAt + 10).trim());
      const body = stdout.slice(0, statusAt).trim();
      const name = command.split('\n')[0]?.slice(0, 110) ?? command;
      checkAnswer(t, name, entry, status, body, (placeholder, value) => bound.set(placeholder, value));
    }
  },
);

function checkAnswer(
  t: Test,
  name: string,
  entry: TourCommand,
  status: number,
  body: string,
  bind: (placeholder: string, value: string) => void,
) {
  const expected = entry.sample?.status;
  if (expected === undefined)
    t.ok(status >= 200 && status < 300, `${name}: ${status} (${body.slice(0, 200)})`);
  else t.equal(status, expected, `${name}: ${status}, as the sample shows`);
  if (entry.sample?.events) {
    const events = [...body.matchAll(/^event: (\S+)/gm)].map((match) => match[1]);
    const first = events.filter((event, index) => events.indexOf(event) === index);
    t.same(first, entry.sample.events, `${name}: the events the sample shows, in order`);
    return;
  }
  if (!entry.sample?.body) return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    t.fail(`${name}: the answer is not JSON: ${body.slice(0, 200)}`);
    return;
  }
  const mismatch = sampleMismatch(entry.sample.body, parsed, bind);
  t.equal(
    mismatch,
    undefined,
    `${name}: the answer has the sample's shape${mismatch ? `: ${body.slice(0, 300)}` : ''}`,
  );
}
