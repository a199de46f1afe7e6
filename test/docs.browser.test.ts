import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import t from 'tap';
import { buildTestApp } from './helpers/test-app.ts';

const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

if (!existsSync(executablePath)) {
  t.skip(
    `/docs in a real browser: no Chromium at ${executablePath} (.ci/run installs Debian's chromium package)`,
    () => {},
  );
} else {
  t.test('/docs renders the API reference in a real browser and lists the operations', async (t) => {
    const { app } = await buildTestApp(t);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('not listening');

    const profile = await mkdtemp(join(tmpdir(), 'marquee-chromium-'));
    t.teardown(() => rm(profile, { recursive: true, force: true }));
    // launch() gives the browser a fresh, temporary profile of its own.
    const browser = await chromium.launch({
      executablePath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    t.teardown(() => browser.close());
    const page = await browser.newPage();
    const failedRequests: string[] = [];
    page.on('requestfailed', (request) => failedRequests.push(request.url()));
    const response = await page.goto(`http://127.0.0.1:${address.port}/docs`, { waitUntil: 'load' });
    t.equal(response?.status(), 200);
    await page.getByText('Create or replace an item').first().waitFor({ timeout: 20_000 });
    // The sidebar opens the first group; open the others to see their operations.
    for (const group of ['users', 'events', 'health']) {
      await page
        .getByRole('button', { name: `Open Group - ${group}` })
        .first()
        .click();
    }
    const expected = [
      'Create or replace an item',
      'List items',
      'Erase a user',
      "List a user's events",
      'Record events',
      'Readiness',
    ];
    for (const summary of expected) {
      await page.getByText(summary, { exact: true }).first().waitFor({ timeout: 10_000 });
      t.pass(`lists "${summary}"`);
    }
    await page.screenshot({ path: join(profile, 'docs.png') });
    const external = failedRequests.filter((url) => !url.startsWith(`http://127.0.0.1:${address.port}`));
    t.same(external, [], 'the page needs nothing from outside this server');
  });
}
