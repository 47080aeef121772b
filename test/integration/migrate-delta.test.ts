/**
 * Acceptance: XOR_LZ4 deltas carry small in-place changes: after pass 0, a re-sent jvm page costs at most
 * half the bytes it costs with --no-delta (same image, same writer, same policy and link). The whole-run
 * byte ratio also depends on how fast the writer gets to dirty on a loaded machine (a starved writer
 * leaves pass 0 to dominate both runs), so that figure lives in `npm run bench:timing`.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { fillImage } from '@ferry/workload';
import { runMigrate, scratchDir, sha256, startTarget, startWorkload } from '../helpers/ferry.js';

// A WAN-like link slower than the heap's dirtying: without deltas every pass re-sends the whole hot
// half of the heap and xen's 3x rule ends pre-copy; with deltas each pass costs a few bytes per page.
const SIZE = 16 * 1024 * 1024;

async function jvmRun(t: Test, label: string, extra: string[]) {
  const dir = scratchDir(t);
  const image = join(dir, 'heap.ram');
  await fillImage(image, SIZE, { seed: 3 });
  const workload = await startWorkload(t, image, SIZE, 'jvm', '48MiB/s');
  const target = await startTarget(t, join(dir, 'target'));
  const id = `delta-${label}`;
  const run = await runMigrate(t, [
    '--to', target.url, '--id', id, '--image', `ram=${image}`, '--policy', 'xen', '--rate-limit', '8MB/s',
    '--pause-cmd', `kill -STOP ${workload.pid}`, '--resume-cmd', `kill -CONT ${workload.pid}`, ...extra,
  ]);
  t.equal(run.code, 0, `${label}: migrate exits 0 (stderr: ${run.stderr.slice(-1500)})`);
  t.equal(await sha256(join(dir, 'target', id, 'ram')), await sha256(image), `${label}: byte-identical`);
  return { summary: run.summary, ...resentCost(run.events) };
}

/** Bytes and pages of every pass after pass 0 (the final pass included): the cost of re-sending. */
function resentCost(events: ReadonlyArray<Record<string, unknown>>): { resentBytes: number; resentPages: number } {
  const later = events.filter((e) => e['event'] === 'pass-end' && Number(e['pass']) > 0);
  return {
    resentBytes: later.reduce((sum, e) => sum + Number(e['bytesSent']), 0),
    resentPages: later.reduce((sum, e) => sum + Number(e['dirtyPages']), 0),
  };
}

t.test('jvm: a re-sent page costs at most half as many bytes with deltas as with --no-delta', async (t) => {
  const withDelta = await jvmRun(t, 'delta', []);
  const noDelta = await jvmRun(t, 'nodelta', ['--no-delta']);
  t.comment(`bytes sent: with XOR deltas ${String(withDelta.summary['bytesSent'])}, --no-delta ${String(noDelta.summary['bytesSent'])}`);
  t.ok(Number(withDelta.summary['deltaPages']) > 0, `${String(withDelta.summary['deltaPages'])} pages went as XOR_LZ4`);
  t.equal(Number(noDelta.summary['deltaPages']), 0, '--no-delta sends no XOR_LZ4 page');
  t.ok(withDelta.resentPages > 0 && noDelta.resentPages > 0, `pages were re-sent (${withDelta.resentPages} and ${noDelta.resentPages})`);
  const perPageDelta = withDelta.resentBytes / withDelta.resentPages;
  const perPagePlain = noDelta.resentBytes / noDelta.resentPages;
  t.ok(perPageDelta <= perPagePlain / 2, `a re-sent page cost ${perPageDelta.toFixed(0)} bytes with deltas, <= half of ${perPagePlain.toFixed(0)} without`);
});
