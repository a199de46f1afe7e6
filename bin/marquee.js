#!/usr/bin/env node
// Runs the TypeScript sources directly (Node >= 22.18 strips types natively) when they are present, as in
// a git checkout; the compiled dist/ otherwise, as in the container image or an installed package.
import { existsSync } from 'node:fs';

const fromSource = new URL('../src/cli.ts', import.meta.url);
const fromBuild = new URL('../dist/src/cli.js', import.meta.url);
const canRunSource = Boolean(process.features.typescript) && existsSync(fromSource);

if (!canRunSource && !existsSync(fromBuild)) {
  console.error(
    'marquee: run with Node.js 22.18 or later (it runs the TypeScript sources directly), or build first with `npm run build`.',
  );
  process.exit(1);
}
const { runCli } = await import(canRunSource ? fromSource.href : fromBuild.href);
await runCli(process.argv);
