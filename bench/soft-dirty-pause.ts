/**
 * `npm run bench:soft-dirty`: the pause with the soft-dirty log at two image sizes under the same
 * writer, inside the node guest (Debian's kernel under QEMU TCG: this host's kernel may keep no
 * soft-dirty bits). guest/mapwriter rewrites HOT pages through its shared mapping and writes COLD more at
 * the pause, whatever the image size, so the final pass has the same work at every size and the pause
 * should not grow with the image. Goal: the pause of the largest image <= 1.2x the smallest one's.
 * TCG makes every number slow; only the ratio within this run means anything.
 *   FERRY_BENCH_SD_SIZES  image sizes in MiB (default 256,2048)
 *   FERRY_BENCH_SD_LOG    --dirty-log (default soft-dirty; hash for the comparison)
 */
import { nodeGuest, runInGuest, taggedLines } from '../test/helpers/node-guest.js';
import { TeardownList } from '../test/helpers/ferry.js';

const SIZES = (process.env['FERRY_BENCH_SD_SIZES'] ?? '256,2048').split(',').map(Number);
const LOG = process.env['FERRY_BENCH_SD_LOG'] ?? 'soft-dirty';
const HOT_PAGES = 32; // under the xen rule's 50: pre-copy stops after pass 1 at every size
const COLD_PAGES = 100;
const GOAL = 1.2;

interface Summary {
  readonly result: string;
  readonly pauseMs: number;
  readonly passes: number;
  /** Pages read over every counted pass, the final one included. */
  readonly pagesRead?: number;
  readonly finalPagesRead?: number;
  readonly finalDirtyPages?: number;
  readonly dirtyLog?: Record<string, { method: string }>;
}

const guest = nodeGuest();
if ('missing' in guest) {
  console.log(`soft-dirty pause bench skipped: ${guest.missing}`);
  process.exit(0);
}
const teardown = new TeardownList();
try {
  const ramMiB = 2 * Math.max(...SIZES) + 1536; // source and target image in the guest's /dev/shm, two nodes
  const output = await runInGuest(teardown, guest, { script: 'guest/soft-dirty-bench.sh', args: [HOT_PAGES, COLD_PAGES, LOG, ...SIZES], ramMiB });
  const summaries = taggedLines(output, 'SD-SUMMARY').map((line) => (line ? JSON.parse(line) as Summary : undefined));
  const identical = taggedLines(output, 'SD-CMP');
  console.log(`| image | --dirty-log | ran | pause (ms) | final pass: pages read / changed | passes | pages read, all passes (image's pages) | image identical |`);
  console.log('|---|---|---|---|---|---|---|---|');
  SIZES.forEach((size, i) => {
    const s = summaries[i];
    if (!s) return console.log(`| ${size} MiB | ${LOG} | failed | | | | | ${identical[i] ?? ''} |`);
    console.log(`| ${size} MiB | ${LOG} | ${s.dirtyLog?.['ram']?.method ?? '?'} | ${s.pauseMs} | ${s.finalPagesRead} / ${s.finalDirtyPages} | ${s.passes} | ${s.pagesRead} (${(size * 2 ** 20) / 4096}) | ${identical[i]} |`);
  });
  const first = summaries[0];
  const last = summaries.at(-1);
  if (first && last && summaries.length > 1) {
    const ratio = last.pauseMs / first.pauseMs;
    console.log(`pause ratio ${SIZES.at(-1)} MiB / ${SIZES[0]} MiB: ${ratio.toFixed(2)} (goal <= ${GOAL}: ${ratio <= GOAL ? 'met' : 'not met'})`);
  }
  if (summaries.length < SIZES.length || summaries.some((s) => s?.result !== 'committed')) console.log(output.slice(-4000));
} finally {
  await teardown.run();
}
