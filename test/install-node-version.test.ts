import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';

// Issue 17: `npm install` on a Node.js older than the project needs stops at once with one clear error
// (engine-strict in .npmrc), instead of installing with dozens of engine warnings and failing later. Run with
// the machine's own older Node and npm when it has them (Debian's, here: Node 20).
const SYSTEM_NODE = '/usr/bin/node';
const SYSTEM_NPM = '/usr/lib/node_modules/npm/bin/npm-cli.js';
const run = promisify(execFile);

async function systemNodeMajor(): Promise<number | undefined> {
  if (!existsSync(SYSTEM_NODE) || !existsSync(SYSTEM_NPM)) return undefined;
  const { stdout } = await run(SYSTEM_NODE, ['--version']);
  return Number(/^v(\d+)/.exec(stdout)?.[1]);
}

const major = await systemNodeMajor();
t.test(
  'npm install on Node.js < 22.18 stops at once with EBADENGINE naming the version needed',
  {
    skip:
      major === undefined
        ? `no system Node.js and npm at ${SYSTEM_NODE} and ${SYSTEM_NPM}`
        : major >= 22
          ? `the system Node.js is ${major}, not older than the project needs`
          : false,
  },
  async (t) => {
    const folder = await mkdtemp(join(tmpdir(), 'marquee-engine-'));
    t.teardown(() => rm(folder, { recursive: true, force: true }));
    for (const file of ['package.json', 'package-lock.json', '.npmrc'])
      await copyFile(new URL(`../${file}`, import.meta.url), join(folder, file));
    const result = await run(
      SYSTEM_NODE,
      [SYSTEM_NPM, 'install', '--dry-run', '--ignore-scripts', '--no-audit', '--no-fund'],
      { cwd: folder, env: { PATH: '/usr/bin:/bin', HOME: folder }, timeout: 60_000 },
    ).then(
      ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({
        code: error.code,
        output: error.stdout + error.stderr,
      }),
    );
    t.not(result.code, 0, 'npm install fails');
    t.match(result.output, /EBADENGINE/);
    t.match(result.output, /Required: \{"node":">=22\.18"\}/, 'and says which Node.js is needed');
    t.notMatch(result.output, /added \d+ packages/, 'nothing was installed');
  },
);
