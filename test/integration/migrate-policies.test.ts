/**
 * Acceptance: with a writer that dirties faster than the (rate-limited) link can carry, `xen` stops at 30
 * passes or 3x the image, `smart` stops earlier on a local minimum, and `downtime` stops when its estimate
 * fits. Every run must still commit a byte-identical image.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { fillImage } from '@ferry/workload';
import { runMigrate, scratchDir, sha256, startTarget, startWorkload } from '../helpers/ferry.js';

const SIZE = 32 * 1024 * 1024;
const LINK = '24MB/s';
const WRITER = '32MiB/s';

async function hotMigration(t: Test, policy: string, extra: string[] = []) {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, SIZE, { seed: 11 });
  const workload = await startWorkload(t, image, SIZE, 'compile', WRITER);
  const target = await startTarget(t, join(dir, 'target'));
  const id = `policy-${policy}`;
  const run = await runMigrate(t, [
    '--to', target.url, '--id', id, '--image', `ram=${image}`, '--policy', policy, '--rate-limit', LINK,
    '--pause-cmd', `kill -STOP ${workload.pid}`, '--resume-cmd', `kill -CONT ${workload.pid}`, ...extra,
  ]);
  t.equal(run.code, 0, `migrate exits 0 (stderr: ${run.stderr.slice(-1500)})`);
  t.equal(await sha256(join(dir, 'target', id, 'ram')), await sha256(image), 'target image == paused source image');
  const passEnds = run.events.filter((e) => e['event'] === 'pass-end' && e['final'] === false);
  t.comment(`${policy}: ${passEnds.length} pre-copy passes, dirty ${passEnds.map((e) => e['dirtyPages']).join(' ')}, ` +
    `${Number(run.summary['bytesSent']) / SIZE} x image sent, stop: ${String(run.summary['stopReason'])}`);
  return { run, precopyPasses: passEnds.length, stopReason: String(run.summary['stopReason'] ?? '') };
}

t.test('xen stops at 30 passes or 3x the image; smart stops earlier; downtime stops on its estimate', async (t) => {
  const xen = await hotMigration(t, 'xen');
  t.match(xen.stopReason, /^xen: (reached 30 passes|\d+ bytes sent, over 3x the image)/, 'xen hit a hard limit');
  t.ok(xen.precopyPasses <= 30, `xen ran ${xen.precopyPasses} passes`);

  const smart = await hotMigration(t, 'smart');
  t.match(smart.stopReason, /^smart: pass \d+/, 'smart stopped on a local minimum');
  t.ok(smart.precopyPasses < xen.precopyPasses, `smart (${smart.precopyPasses} passes) stops before xen (${xen.precopyPasses})`);

  const downtime = await hotMigration(t, 'downtime', ['--max-downtime', '3000']);
  t.match(downtime.stopReason, /^downtime: estimated pause \d+ ms <= 3000 ms/, 'downtime stopped when the estimate fit');
});
