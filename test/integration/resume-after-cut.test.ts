/**
 * Issue: resume after a cut. The link is cut at about 50% of pass 0; the source reconnects, the target
 * tells it what it holds, and the migration commits having sent less than 10% more than an uncut run,
 * with a byte-identical result. A cut after the pause still rolls back (see test/faults).
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { fillImage } from '@ferry/workload';
import { CutProxy } from '../helpers/cut-proxy.js';
import { runMigrate, scratchDir, sha256, startTarget } from '../helpers/ferry.js';

// What a cut loses is what was in flight: the socket buffers, the proxy's, and messages the target had
// read but not yet applied (more under load). That is a few MB whatever the image, so the image is large
// enough (pass 0 ~48 MB) that the 10% measures the resume, not the buffers: a 12 MB pass 0 once needed
// 17% more on a loaded machine.
const SIZE = 128 * 1024 * 1024;

async function migration(t: Test, id: string, cutAtFraction?: number) {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, SIZE, { seed: 21 });
  const target = await startTarget(t, join(dir, 'target'));
  const proxy = await CutProxy.start(target.url);
  t.teardown(() => proxy.close());
  // A fixed pace makes "50% of pass 0" a moment we can hit; no workload, so both runs move the same image.
  // Pass 0 of this image is ~48 MB (40% of its pages are zero and are not sent).
  const pass0Bytes = 48e6;
  const run = await runMigrate(t, ['--to', proxy.url, '--id', id, '--image', `ram=${image}`, '--rate-limit', '32MB/s', '--reconnect-timeout', '20'], (event) => {
    if (cutAtFraction !== undefined && proxy.cuts === 0 && event['event'] === 'progress' && Number(event['bytesSent']) > pass0Bytes * cutAtFraction) {
      proxy.cut();
    }
  });
  t.equal(run.code, 0, `${id}: migrate exits 0 (stderr: ${run.stderr.slice(-1500)})`);
  t.equal(await sha256(join(dir, 'target', id, 'ram')), await sha256(image), `${id}: byte-identical`);
  return { run, cuts: proxy.cuts };
}

t.test('a cut at ~50% of pass 0 costs less than 10% more bytes', async (t) => {
  const uncut = await migration(t, 'uncut');
  const cut = await migration(t, 'cut', 0.5);
  t.equal(cut.cuts, 1, 'the link was cut once');
  const disconnected = cut.run.events.find((e) => e['event'] === 'disconnected');
  t.equal(disconnected?.['pass'], 0, 'the cut came during pass 0');
  t.ok(cut.run.events.some((e) => e['event'] === 'reconnected' && e['resumed'] === true), 'the source reconnected and the target resumed the session');
  const before = Number(uncut.run.summary['bytesSent']);
  const after = Number(cut.run.summary['bytesSent']);
  t.comment(`bytes sent: uncut ${before}, cut at 50% of pass 0 ${after} (+${(((after - before) / before) * 100).toFixed(1)}%)`);
  t.ok(after < before * 1.1, `${after} < 1.1 x ${before}`);
});
