/**
 * The README's picture of the live page: a `ferry target` and a `ferry source` daemon on loopback, a
 * 64 MiB image under the web workload, one migration started through POST /migrations and watched in
 * headless chromium until it commits; the source's page is saved as PNG.
 *   node --import tsx scripts/page-screenshot.ts [OUT.png]     (default docs/img/live-page.png)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fillImage } from '@ferry/workload';
import { launchChromium, logIn } from '../test/helpers/browser.js';
import { scratchDir, startDaemon, startWorkload, TeardownList } from '../test/helpers/ferry.js';

const IMAGE_BYTES = 64 * 1024 * 1024;
const TOKEN = 'page-screenshot-token';

async function main(out: string): Promise<void> {
  const teardown = new TeardownList();
  try {
    const dir = scratchDir(teardown, 'ferry-screenshot-');
    const image = join(dir, 'vm.ram');
    await fillImage(image, IMAGE_BYTES, { seed: 11 });
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const targetUrl = await startDaemon(teardown, ['target', '--listen', '127.0.0.1:0', '--dir', join(dir, 'target'), '--token-file', tokenFile]);
    const sourceUrl = await startDaemon(teardown, ['source', '--listen', '127.0.0.1:0', '--token-file', tokenFile]);
    const browser = await launchChromium(teardown);
    const page = await browser.newPage({ viewport: { width: 1280, height: 940 } });
    await logIn(page, sourceUrl, TOKEN);
    const workload = await startWorkload(teardown, image, IMAGE_BYTES, 'web', '8MiB/s');
    const body = {
      to: targetUrl, image: [`ram=${image}`], id: 'web-64MiB', 'token-file': tokenFile, 'rate-limit': '24MB/s',
      'pause-cmd': `kill -STOP ${workload.pid}`, 'resume-cmd': `kill -CONT ${workload.pid}`, 'state-dir': join(dir, 'journal'),
    };
    const started = await fetch(`${sourceUrl}/migrations`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (started.status !== 202) throw new Error(`POST /migrations answered ${started.status}: ${await started.text()}`);
    await page.waitForSelector('#result:not([data-result=""])', { timeout: 120_000 });
    await page.screenshot({ path: out, fullPage: true });
    process.stdout.write(`${out}: ${await page.textContent('#result')}\n`);
  } finally {
    await teardown.run();
  }
}

await main(process.argv[2] ?? 'docs/img/live-page.png');
