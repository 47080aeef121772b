/**
 * The live page in a real headless browser (Debian's chromium, driven by playwright-core): log in with the
 * token, watch a migration whose workload keeps dirtying pages, see the charts grow while it runs (held in
 * its pause hook) and the result once it commits; the target's page lists the session.
 */
import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { fillImage } from '@ferry/workload';
import { scratchDir, startDaemon, startWorkload } from '../helpers/ferry.js';
import { chromiumMissing, launchChromium, logIn } from '../helpers/browser.js';
import { waitForFile } from '../helpers/files.js';

const TOKEN = 'live-page-test-token-77a0';
const IMAGE_BYTES = 32 * 1024 * 1024;

const points = async (page: Page, chart: string): Promise<number> => Number(await page.getAttribute(`#${chart}`, 'data-points'));

t.test('the page draws a running migration and shows its result', { skip: chromiumMissing() ?? false }, async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, IMAGE_BYTES, { seed: 7 });
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const hookStarted = join(dir, 'hook-started');
  const gate = join(dir, 'gate');
  const targetUrl = (await startDaemon(t, ['target', '--listen', '127.0.0.1:0', '--dir', join(dir, 'target'), '--token-file', tokenFile])).replace(/^ws/, 'http');
  const sourceUrl = await startDaemon(t, ['source', '--listen', '127.0.0.1:0', '--token-file', tokenFile]);
  const browser = await launchChromium(t);
  const sourcePage = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await logIn(sourcePage, sourceUrl, TOKEN);
  // From here on (the login form itself answers 401, which the console reports), any error is the page's.
  const errors: string[] = [];
  sourcePage.on('pageerror', (error) => errors.push(error.message));
  sourcePage.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  const targetPage = await browser.newPage();
  await logIn(targetPage, targetUrl, TOKEN);

  const workload = await startWorkload(t, image, IMAGE_BYTES, 'web', '4MiB/s');
  const body = {
    to: targetUrl.replace(/^http/, 'ws'), image: [`ram=${image}`], id: 'on-the-page', 'token-file': tokenFile, 'rate-limit': '48MB/s',
    'pause-cmd': `kill -STOP ${workload.pid}; touch '${hookStarted}'; while [ ! -e '${gate}' ]; do sleep 0.05; done`,
    'resume-cmd': `kill -CONT ${workload.pid}`, 'state-dir': join(dir, 'journal'),
  };
  const started = await fetch(`${sourceUrl}/migrations`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  t.equal(started.status, 202, await started.clone().text());
  await waitForFile(hookStarted);

  // Paused in the hook, pre-copy is over: its passes and rates must be on the page, and no result yet.
  await sourcePage.waitForSelector('#passes:not([data-points="0"])');
  const precopyPasses = await points(sourcePage, 'passes');
  t.ok(precopyPasses >= 1, `the pass chart shows ${precopyPasses} pre-copy passes while the migration runs`);
  t.ok(await points(sourcePage, 'rates') >= 1, 'the rate chart has points');
  t.equal(await sourcePage.getAttribute('#result', 'data-result'), '', 'no result yet');
  t.match(await sourcePage.textContent('#timeline'), /pass 0 ended: \d+ pages dirty/, 'the timeline lists the passes');
  await targetPage.waitForSelector('#sessions tbody td:text-is("on-the-page")');
  t.pass('the target\'s page lists the session');

  writeFileSync(gate, '');
  await sourcePage.waitForSelector('#result[data-result="committed"]', { timeout: 60_000 });
  t.match(await sourcePage.textContent('#result'), /committed · pause \d+ ms/, 'the result shows, with the pause');
  t.ok(await points(sourcePage, 'passes') > precopyPasses, 'the final pass was added to the chart');
  t.match(await sourcePage.textContent('#timeline'), /resumed on the target: pause \d+ ms/, 'the timeline shows the resume');
  await targetPage.waitForSelector('#result[data-result="committed"]');
  t.pass('the target\'s page shows the commit');
  t.same(errors, [], 'no script errors');
});
