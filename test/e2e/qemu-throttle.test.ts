/**
 * Auto-converge with a real QEMU guest: the guest rewrites pages faster than the rate-limited link
 * carries them, so ferry throttles it with a QMP stop/cont duty cycle until the pause fits, then
 * migrates it. The guest must continue on the target with no bad page; a duty cycle held by the
 * driver alone must leave the guest running when restored.
 */
import t from 'tap';
import { QemuThrottle, QmpClient, type QmpEvent } from '@ferry/qemu';
import { runMigrate } from '../helpers/ferry.js';
import { buildGuest, QemuScratch, qemuMissing, readHeartbeats, spawnQemu, startQemuTarget, startSourceQemu, waitForHeartbeats, type GuestOptions } from './helpers-qemu.js';

const missing = qemuMissing();
if (missing !== undefined) {
  t.plan(0, `skipped: ${missing}`);
} else {
  t.setTimeout(600_000); // boots a guest under TCG and migrates it over a slow link
  t.test('the driver alone: a 50% duty cycle stops and continues the guest, restore leaves it running', async (t) => {
    const scratch = new QemuScratch(t);
    // 128 MiB: the guest's kernel and initramfs (with the virtio block modules) do not boot in 64.
    const guest = spawnQemu(scratch, { guest: buildGuest(), ramMiB: 128, touchMiB: 16 }, 'cycled');
    const qmp = await QmpClient.connect(guest.qmpPath, { timeoutMs: 20_000 });
    t.teardown(() => qmp.close());
    const seen: string[] = [];
    const off = qmp.onEvent((event: QmpEvent) => { if (event.event === 'STOP' || event.event === 'RESUME') seen.push(event.event); });
    const throttle = new QemuThrottle(qmp);
    await throttle.set(50);
    await qmp.waitForEvent('RESUME', () => seen.filter((e) => e === 'RESUME').length >= 3, 20_000);
    await throttle.restore();
    off();
    t.ok(seen.filter((e) => e === 'STOP').length >= 3, `the guest was stopped and continued in cycles (${seen.length} events)`);
    const status = await qmp.execute<{ running: boolean }>('query-status');
    t.equal(status.running, true, 'after restore() the guest runs');
  });

  t.test('a guest dirtying faster than the link is throttled with QMP stop/cont, then moves and keeps counting', async (t) => {
    const options: GuestOptions = { guest: buildGuest(), ramMiB: 256, touchMiB: 64, rate: 4000, sweep: 4 };
    const scratch = new QemuScratch(t);
    const source = await startSourceQemu(scratch, options);
    const target = await startQemuTarget(t, scratch, options);
    // memtouch changes a few bytes per page: XOR deltas would carry its 16 MB/s within the link. Whole
    // pages (no deltas, no LZ4) make the guest outrun the 4 MB/s link.
    const run = await runMigrate(t, ['--to', target.url, '--image', `ram=${source.ramPath}`, '--qmp', source.qmpPath,
      '--rate-limit', '4MB/s', '--no-delta', '--compress', 'never', '--max-downtime', '4000', '--timeout', '400']);
    t.equal(run.code, 0, `migrate commits (stderr: ${run.stderr.slice(-1500)})`);
    const levels = run.events.filter((e) => e['event'] === 'throttle').map((e) => Number(e['level']));
    t.ok(Math.max(0, ...levels) > 0, `the guest was throttled (levels ${levels.join(' ')})`);
    t.equal(levels.at(-1), 0, 'the duty cycle ended before the pause');
    t.comment(`summary: pause ${String(run.summary['pauseMs'])} ms, ${String(run.summary['passes'])} passes, stop: ${String(run.summary['stopReason'])}`);
    const lastSource = readHeartbeats(source.serialPath).at(-1);
    const beats = await waitForHeartbeats(target.serialPath, (b) => b.length >= 8, 60_000).catch((error: Error) => {
      t.fail(error.message);
      return readHeartbeats(target.serialPath);
    });
    t.ok(lastSource !== undefined && beats[0] !== undefined && beats[0].counter > lastSource.counter, `the counter continues on the target (HB ${lastSource?.counter} → ${beats[0]?.counter})`);
    t.ok(beats.length >= 8 && beats.every((b) => b.bad === 0), 'bad=0 on the target');
  });
}
