/**
 * The soft-dirty dirty log where the kernel keeps one: Debian's stock kernel under QEMU TCG, with node
 * and ferry inside the guest (test/helpers/node-guest.ts). guest/soft-dirty-scenario.sh runs a ferry target
 * on the guest's loopback and `ferry migrate --dirty-log soft-dirty` of a 64 MiB /dev/shm file that
 * guest/mapwriter keeps rewriting through a shared mapping, at every instant, including the instants
 * ferry reads and clears the log. The writer counts ferry's freezes (each ends with SIGCONT) and, when
 * the pause hook asks, writes 100 more pages, reports which pages it wrote since the last freeze, and
 * stops itself. So: the target's image must equal the source's byte for byte (a write lost between a
 * read and a clear would leave a stale page), and the final pass must have read exactly the pages
 * written since the last pre-copy freeze (the summary's counter), not the whole image.
 */
import t from 'tap';
import { nodeGuest, runInGuest, taggedLines } from '../helpers/node-guest.js';

const IMAGE_MIB = 64;
const HOT_PAGES = 256;
const COLD_PAGES = 100;
const PAGES = (IMAGE_MIB * 1024 * 1024) / 4096;

const guest = nodeGuest();
if ('missing' in guest) {
  t.plan(0, `skipped: ${guest.missing}`);
} else {
  t.setTimeout(1_800_000); // node under TCG on a shared host: minutes, not seconds
  t.test('soft-dirty in a guest: byte-identical image, the final pass reads only what was written since the last pass', { timeout: 1_700_000 }, async (t) => {
    const console = await runInGuest(t, guest, {
      script: 'guest/soft-dirty-scenario.sh', args: [IMAGE_MIB, HOT_PAGES, COLD_PAGES, 'xen', 'soft-dirty'], ramMiB: 1024,
    });
    const exit = taggedLines(console, 'SD-EXIT')[0];
    const summaryLine = taggedLines(console, 'SD-SUMMARY')[0];
    const report = taggedLines(console, 'SD-REPORT')[0];
    t.equal(exit, '0', 'ferry migrate exits 0 in the guest');
    if (exit !== '0' || !summaryLine) {
      t.comment(console.slice(-4000));
      return;
    }
    const summary = JSON.parse(summaryLine) as {
      result: string; passes: number; pagesRead: number; finalPagesRead: number; finalDirtyPages: number;
      dirtyLog: Record<string, { method: string; reason: string }>;
    };
    t.comment(`summary: ${summaryLine}`);
    t.comment(`writer: ${report}`);
    t.equal(summary.result, 'committed');
    t.equal(summary.dirtyLog['ram']?.method, 'soft-dirty', 'the soft-dirty log ran to the end');
    t.same(taggedLines(console, 'SD-CMP'), ['identical'], 'the target image equals the source byte for byte');
    const counts = Object.fromEntries((report ?? '').split(' ').map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
    const definite = counts['definite'] ?? NaN;
    const maybe = counts['maybe'] ?? NaN;
    t.ok(definite >= COLD_PAGES, `the writer wrote at least the ${COLD_PAGES} cold pages after the last freeze (${definite})`);
    t.ok(summary.finalPagesRead >= definite && summary.finalPagesRead <= definite + maybe,
      `the final pass read ${summary.finalPagesRead} pages: those written since the last freeze (${definite}, plus up to ${maybe} written across it)`);
    t.ok(summary.finalPagesRead < PAGES / 4, `far from the ${PAGES} pages of the image`);
    t.ok(summary.passes >= 3, `pre-copy ran passes on the log before the pause (${summary.passes} passes)`);
  });
}
