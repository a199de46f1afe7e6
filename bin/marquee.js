#!/usr/bin/env node
// Runs the TypeScript sources directly (Node >= 22.18 strips types natively) when they are present, as in
// a git checkout; the compiled dist/ otherwise, as in the container image or an installed package.
import { existsSync } from 'node:fs';

const fromSource = (name) => new URL(`../src/${name}.ts`, import.meta.url);
const fromBuild = (name) => new URL(`../dist/src/${name}.js`, import.meta.url);
const canRunSource = Boolean(process.features.typescript) && existsSync(fromSource('cli'));
const entry = (name) => (canRunSource ? fromSource(name) : fromBuild(name)).href;

if (!canRunSource && !existsSync(fromBuild('cli'))) {
  console.error(
    'marquee: run with Node.js 22.18 or later (it runs the TypeScript sources directly), or build first with `npm run build`.',
  );
  process.exit(1);
}
// First, before any library is loaded: prototype pollution fails loudly (as with node --disable-proto=throw).
const { disablePrototypeAccessor } = await import(entry('harden'));
disablePrototypeAccessor();
const { runCli } = await import(entry('cli'));
await runCli(process.argv);
