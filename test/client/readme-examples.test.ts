import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import t from 'tap';

// Issue 17: the client's README example compiles as written, against the client's sources standing in for
// the installed package (@marquee/client), with DOM and Node types as a frontend's backend would have.
const ROOT = new URL('../../', import.meta.url);
const WORK = new URL(`.tap/readme-examples-${process.pid}/`, ROOT);

/** The ```ts blocks of a Markdown file that import the client. */
async function clientExamples(file: string): Promise<string[]> {
  const text = await readFile(new URL(file, ROOT), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)]
    .map((match) => match[1] ?? '')
    .filter((code) => code.includes("from '@marquee/client'"));
}

t.test("the client README's examples compile", async (t) => {
  const examples = await clientExamples('clients/typescript/README.md');
  t.ok(examples.length >= 1, `${examples.length} example(s) found`);
  await mkdir(WORK, { recursive: true });
  t.teardown(() => rm(WORK, { recursive: true, force: true }));
  await writeFile(
    new URL('tsconfig.json', WORK),
    JSON.stringify({
      extends: '../../tsconfig.json',
      compilerOptions: {
        lib: ['es2024', 'dom', 'dom.iterable'],
        types: ['node'],
        paths: { '@marquee/client': ['../../clients/typescript/src/index.ts'] },
      },
      include: ['*.ts'],
    }),
  );
  for (const [index, code] of examples.entries())
    await writeFile(new URL(`example-${index}.ts`, WORK), `${code}\nexport {};\n`);
  const tsc = new URL('node_modules/typescript/bin/tsc', ROOT).pathname;
  const result = await promisify(execFile)(
    process.execPath,
    [tsc, '--noEmit', '-p', new URL('tsconfig.json', WORK).pathname],
    {
      cwd: new URL('.', ROOT).pathname,
    },
  ).then(
    () => ({ code: 0, output: '' }),
    (error: { code?: number; stdout?: string }) => ({ code: error.code ?? 1, output: error.stdout ?? '' }),
  );
  t.equal(result.code, 0, `tsc found no error${result.output ? `:\n${result.output}` : ''}`);
});
