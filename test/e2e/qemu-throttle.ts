/**
 * Auto-converge with a real QEMU guest: the guest rewrites pages faster than the rate-limited link
 * carries them, so ferry throttles it with a QMP stop/cont duty cycle until the pause fits, then
 * migrates it. The guest must continue on the target with no bad page; a duty cycle held by the
 * driver alone must leave the guest running when restored. A kill -9 of ferry while the duty cycle holds
 * the guest stopped must leave it running: ferry's guardian process sends `cont` once the QMP socket is free.
 * One guest serves the three cases in turn, so the migration also moves a guest those two left running.
 */
import type { Test } from 'tap';
import { QmpClient, type QmpEvent } from '@ferry/qemu';
import { QemuThrottle } from '@ferry/throttle';
import { spawnSync } from 'node:child_process';
import { FERRY, runMigrate, startTarget } from '../helpers/ferry.js';
import { killWhileStopped } from '../helpers/throttle.js';
import { until } from '../helpers/wait.js';
import { buildGuest, QemuScratch, readHeartbeats, startQemuTarget, startSourceQemu, waitForHeartbeats, type GuestOptions } from '../helpers/qemu.js';

/** This suite, on a subtest that test/e2e/guests-ram.test.ts gives it (./guest-chain.ts: one guest suite at a time, none without QEMU). */
export async function qemuThrottle(t: Test): Promise<void> {
  t.setTimeout(600_000); // boots a guest under TCG, then migrates it twice over a slow link
  // One guest for the three cases: the driver's duty cycle and the kill -9 must each leave it running
  // (restore(), the guardian), and the last case then throttles and moves that same guest. 8000 pages/s
  // (32 MB/s) re-dirties the 8 MiB it writes within every pass at 8 MB/s, so the pause fits 1000 ms only
  // once the guest is throttled; more MiB only make each pass longer, and a slower link only makes pass 0
  // (the guest's ~80 MB of kernel, initramfs and touched pages) longer. Heartbeats every 100 ms show a
  // stopped guest soon.
  const options: GuestOptions = { guest: buildGuest(), ramMiB: 128, touchMiB: 8, rate: 8000, sweep: 4, heartbeatMs: 100 };
  const guestScratch = new QemuScratch(t);
  // A second monitor to drive and watch the guest: ferry holds the first (QEMU serves one client per socket).
  const watchPath = guestScratch.path('watch.qmp');
  const source = await startSourceQemu(guestScratch, options, ['-qmp', `unix:${watchPath},server=on,wait=off`]);

  t.test('the driver alone: a 50% duty cycle stops and continues the guest, restore leaves it running', async (t) => {
    const qmp = await QmpClient.connect(watchPath, { timeoutMs: 20_000 });
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

  t.test('kill -9 of ferry migrate while the duty cycle has the guest stopped: the guardian continues it', async (t) => {
    const scratch = new QemuScratch(t);
    const watch = await QmpClient.connect(watchPath, { timeoutMs: 20_000 });
    t.teardown(() => watch.close());
    let stopEvent = false;
    watch.onEvent((event: QmpEvent) => { if (event.event === 'STOP' || event.event === 'RESUME') stopEvent = event.event === 'STOP'; });
    const running = async (): Promise<boolean> => (await watch.execute<{ running: boolean }>('query-status')).running;
    const target = await startTarget(t, scratch.path('target'));
    const stateDir = scratch.path('journal');
    let killing: Promise<void> | undefined;
    let throttling = false;
    const run = await runMigrate(t, ['--to', target.url, '--image', `ram=${source.ramPath}`, '--qmp', source.qmpPath, '--state-dir', stateDir,
      '--rate-limit', '8MB/s', '--no-delta', '--compress', 'never', '--max-downtime', '50'], (event, child) => {
      // --max-downtime 50 and the events make sure the stop caught is the throttle's, not the pause's.
      if (event['event'] === 'throttle') throttling = Number(event['level']) > 0;
      if (event['event'] === 'pass-end' && event['stop'] === true) throttling = false;
      if (killing !== undefined || !throttling) return;
      killing = killWhileStopped(child, async () => throttling && stopEvent && !(await running()), 'the guest');
    });
    await killing;
    t.equal(run.code, null, `ferry migrate was killed while the guest was stopped (stderr: ${run.stderr.slice(-800)})`);
    await until(() => !stopEvent, 'the guest is continued (RESUME)', 30_000);
    t.equal(await running(), true, 'query-status: running');
    const last = readHeartbeats(source.serialPath).at(-1)?.counter ?? 0;
    const beats = await waitForHeartbeats(source.serialPath, (b) => (b.at(-1)?.counter ?? 0) >= last + 10, 30_000);
    t.ok(beats.every((b) => b.bad === 0), `the guest keeps counting (HB ${last} → ${beats.at(-1)?.counter}), bad=0`);
    const recovered = spawnSync(process.execPath, [FERRY, 'recover', '--state-dir', stateDir], { encoding: 'utf8' });
    t.equal(recovered.status, 0, `ferry recover finds the journal, continues again (harmless) and is content: ${recovered.stdout}`);
    t.equal(await running(), true, 'still running after recover');
  });

  t.test('a guest dirtying faster than the link is throttled with QMP stop/cont, then moves and keeps counting', async (t) => {
    const target = await startQemuTarget(t, new QemuScratch(t), options);
    // memtouch changes a few bytes per page: XOR deltas would carry its 32 MB/s within the link. Whole
    // pages (no deltas, no LZ4) make the guest outrun the 8 MB/s link.
    const run = await runMigrate(t, ['--to', target.url, '--image', `ram=${source.ramPath}`, '--qmp', source.qmpPath,
      '--rate-limit', '8MB/s', '--no-delta', '--compress', 'never', '--max-downtime', '1000', '--timeout', '400']);
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
