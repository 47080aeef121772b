/**
 * Acceptance: XOR_LZ4 deltas carry small in-place changes, and the jvm profile sends at most half the
 * bytes of --no-delta for the same run (same image, same writer, same policy and link).
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
  return run.summary;
}

t.test('jvm: deltas send at most half the bytes of --no-delta', async (t) => {
  const withDelta = await jvmRun(t, 'delta', []);
  const noDelta = await jvmRun(t, 'nodelta', ['--no-delta']);
  const delta = Number(withDelta['bytesSent']);
  const plain = Number(noDelta['bytesSent']);
  t.comment(`bytes sent: with XOR deltas ${delta}, --no-delta ${plain}, ratio ${(delta / plain).toFixed(3)}`);
  t.ok(Number(withDelta['deltaPages']) > 0, `${String(withDelta['deltaPages'])} pages went as XOR_LZ4`);
  t.equal(Number(noDelta['deltaPages']), 0, '--no-delta sends no XOR_LZ4 page');
  t.ok(delta <= plain / 2, `delta run ${delta} bytes <= half of ${plain}`);
});
