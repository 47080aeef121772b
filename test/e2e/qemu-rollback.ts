/**
 * Rollback with a real QEMU guest. The target dies (SIGKILL) during pre-copy, or after the source
 * paused and saved its device state: either way `ferry migrate` must exit 3 (rolled back) and the
 * source guest must keep running and counting with no bad page (never stopped, or resumed with `cont`).
 */
import type { Test } from 'tap';
import { QmpClient } from '@ferry/qemu';
import { buildGuest, QemuScratch, readHeartbeats, migrateKillingTarget, startQemuTarget, startSourceQemu, waitForHeartbeats, type GuestOptions, type SourceQemu } from '../helpers/qemu.js';

/** Migrates the writing guest and SIGKILLs the target on the first migrate event that `killOn` accepts. */
async function killTargetWhen(t: Test, source: SourceQemu, options: GuestOptions, killOn: (event: Record<string, unknown>) => boolean): Promise<{ events: Array<Record<string, unknown>> }> {
  const target = await startQemuTarget(t, new QemuScratch(t), options);

  const args = ['--to', target.url, '--image', `ram=${source.ramPath}`, '--qmp', source.qmpPath, '--reconnect-timeout', '500ms'];
  const run = await migrateKillingTarget(t, target, args, killOn);
  t.comment(`summary: ${JSON.stringify(run.summary)}`);

  const after = readHeartbeats(source.serialPath).at(-1)?.counter ?? 0;
  const beats = await waitForHeartbeats(source.serialPath, (b) => (b.at(-1)?.counter ?? 0) >= after + 6, 30_000, source.exited).catch((error: Error) => {
    t.fail(error.message);
    return readHeartbeats(source.serialPath);
  });
  t.ok((beats.at(-1)?.counter ?? 0) >= after + 6, `the source guest keeps counting after the rollback (HB ${after} → ${beats.at(-1)?.counter})`);
  t.ok(beats.every((b) => b.bad === 0), 'bad=0 on every source heartbeat');
  t.ok(beats.every((b, i) => i === 0 || b.counter === beats[i - 1]!.counter + 1), 'the counter never jumped or restarted');

  const qmp = await QmpClient.connect(source.qmpPath, { timeoutMs: 5000 });
  const status = await qmp.execute<{ running: boolean; status: string }>('query-status');
  await qmp.close();
  t.equal(status.status, 'running', 'QEMU says the source VM runs');
  return { events: run.events };
}

/** This suite, on a subtest that test/e2e/guests-ram.test.ts gives it (./guest-chain.ts: one guest suite at a time, none without QEMU). */
export async function qemuRollback(t: Test): Promise<void> {
  t.setTimeout(300_000); // boots a guest under TCG and migrates it twice
  // One source guest for both cases: the second migrates a guest the first rollback left running.
  const options: GuestOptions = { guest: buildGuest(), ramMiB: 128, touchMiB: 32, rate: 2000, sweep: 4 };
  const source = await startSourceQemu(new QemuScratch(t), options);
  t.test('the target dies during pre-copy: the source guest never stops', async (t) => {
    const { events } = await killTargetWhen(t, source, options, (event) => event['event'] === 'pass-end');
    t.notOk(events.some((e) => e['event'] === 'paused'), 'the source was never paused');
  });
  t.test('the target dies after the source paused and saved its state: the source resumes', async (t) => {
    const { events } = await killTargetWhen(t, source, options, (event) => event['event'] === 'state');
    t.ok(events.some((e) => e['event'] === 'paused'), 'the source was paused, then resumed by the rollback');
  });
}
