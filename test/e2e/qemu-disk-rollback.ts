/**
 * Failures with a guest disk. The target dies during pre-copy (after a dirty bitmap was frozen and
 * exported) or after the pause: `ferry migrate` exits 3, the source guest keeps running and reading
 * good blocks, and QEMU holds no bitmap or NBD export of ferry's. A link cut during pre-copy is not a
 * failure: ferry reconnects, re-covers what the target had not acknowledged, and the committed disk
 * is byte-identical to the paused source's. One source guest serves the three cases in turn, so the
 * cut case also moves a guest that two rollbacks left running.
 */
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { QmpClient } from '@ferry/qemu';
import { CutProxy } from '../helpers/cut-proxy.js';
import { runMigrate, sha256 } from '../helpers/ferry.js';
import { buildGuest, QemuScratch, readDiskBeats, readHeartbeats, migrateKillingTarget, startQemuTarget, startSourceQemu, waitForHeartbeats, type GuestOptions, type SourceQemu } from '../helpers/qemu.js';

/**
 * The source guest the three cases share, booted once: the two rollbacks must leave it running and
 * migratable, which the cut case then shows by moving it. Each case gets a target of its own.
 */
interface DiskGuest {
  readonly diskPath: string;
  readonly options: GuestOptions;
  readonly source: SourceQemu;
}

async function bootGuestWithDisk(t: Test): Promise<DiskGuest> {
  const scratch = new QemuScratch(t);
  const diskPath = scratch.path('source-vda.raw');
  writeFileSync(diskPath, '');
  truncateSync(diskPath, 256 * 1024 * 1024);
  const options: GuestOptions = { guest: buildGuest(), ramMiB: 256, touchMiB: 32, rate: 1000, sweep: 2, disk: { path: diskPath, mib: 16, rate: 100 } };
  return { diskPath, options, source: await startSourceQemu(scratch, options) };
}

/** What ferry may have left on the source QEMU, and whether the VM runs. */
async function sourceQemuState(source: SourceQemu): Promise<{ status: string; bitmaps: unknown[]; exports: unknown[] }> {
  const qmp = await QmpClient.connect(source.qmpPath, { timeoutMs: 5000 });
  try {
    const { status } = await qmp.execute<{ status: string }>('query-status');
    const nodes = await qmp.execute<Array<{ 'dirty-bitmaps'?: unknown[] }>>('query-named-block-nodes', { flat: true });
    const blocks = await qmp.execute<Array<{ inserted?: { 'dirty-bitmaps'?: unknown[] } }>>('query-block');
    const exports = await qmp.execute<unknown[]>('query-block-exports');
    return { status, bitmaps: [...nodes.flatMap((n) => n['dirty-bitmaps'] ?? []), ...blocks.flatMap((b) => b.inserted?.['dirty-bitmaps'] ?? [])], exports };
  } finally {
    await qmp.close();
  }
}

/** The source guest keeps counting, with good RAM pages and good disk blocks, through a whole disk sweep. */
async function checkSourceKeepsRunning(t: Test, source: SourceQemu): Promise<void> {
  const sweeps = readDiskBeats(source.serialPath).at(-1)?.sweeps ?? 0;
  await waitForHeartbeats(source.serialPath, () => (readDiskBeats(source.serialPath).at(-1)?.sweeps ?? 0) >= sweeps + 2, 90_000, source.exited)
    .catch((error: Error) => t.fail(error.message));
  const beats = readHeartbeats(source.serialPath);
  const disk = readDiskBeats(source.serialPath);
  t.ok(beats.every((b) => b.bad === 0) && beats.every((b, i) => i === 0 || b.counter === beats[i - 1]!.counter + 1), 'RAM: bad=0, the counter never jumped');
  t.ok(disk.length > 0 && disk.every((b) => b.bad === 0), `disk: bad=0 through a whole sweep after the rollback (sweeps ${sweeps} -> ${disk.at(-1)?.sweeps})`);
}

async function killTargetWhen(t: Test, { source, options }: DiskGuest, killOn: (event: Record<string, unknown>) => boolean): Promise<Array<Record<string, unknown>>> {
  const target = await startQemuTarget(t, new QemuScratch(t), options);
  const run = await migrateKillingTarget(t, target, ['--to', target.url, '--image', `ram=${source.ramPath}`, '--qmp', source.qmpPath, '--disk', 'vda=vda', '--reconnect-timeout', '500ms'], killOn);
  const state = await sourceQemuState(source);
  t.equal(state.status, 'running', 'the source VM runs');
  t.same(state.bitmaps, [], 'no dirty bitmap left (query-block, query-named-block-nodes)');
  t.same(state.exports, [], 'no NBD export left (query-block-exports)');
  await checkSourceKeepsRunning(t, source);
  return run.events;
}

/** This suite, on a subtest that test/e2e/guests-disk.test.ts gives it (./guest-chain.ts: one guest suite at a time, none without QEMU). */
export async function qemuDiskRollback(t: Test): Promise<void> {
  t.setTimeout(600_000); // boots a guest under TCG and migrates it three times
  const guest = await bootGuestWithDisk(t);
  t.test('the target dies during pre-copy, after a bitmap was frozen and exported', { timeout: 300_000 }, async (t) => {
    const events = await killTargetWhen(t, guest, (event) => event['event'] === 'pass-end' && Number(event['pass']) >= 1);
    t.notOk(events.some((e) => e['event'] === 'paused'), 'the source was never paused');
  });

  t.test('the target dies after the pause: the source resumes with its disk untouched', { timeout: 300_000 }, async (t) => {
    const events = await killTargetWhen(t, guest, (event) => event['event'] === 'state');
    t.ok(events.some((e) => e['event'] === 'paused'), 'the source was paused, then resumed by the rollback');
  });

  t.test('a cut during pre-copy resumes; an unknown --disk NODE is a usage error', { timeout: 300_000 }, async (t) => {
    const { source, options, diskPath } = guest;
    const target = await startQemuTarget(t, new QemuScratch(t), options);
    const usage = await runMigrate(t, ['--to', target.url, '--image', `ram=${source.ramPath}`, '--qmp', source.qmpPath, '--disk', 'vda=vdz']);
    t.equal(usage.code, 2, 'an unknown NODE exits 2');
    t.match(usage.stderr, /no block device or node 'vdz'.*vda/, 'and lists what query-block shows');

    const proxy = await CutProxy.start(target.url);
    t.teardown(() => proxy.close());
    const run = await runMigrate(t, ['--to', proxy.url, '--image', `ram=${source.ramPath}`, '--qmp', source.qmpPath, '--disk', 'vda=vda', '--keep-source', '--id', 'disk-cut'], (event) => {
      if (proxy.cuts === 0 && event['event'] === 'pass-end' && Number(event['pass']) >= 1) proxy.cut();
    });
    t.equal(proxy.cuts, 1, 'the link was cut once');
    t.equal(run.code, 0, 'migrate still commits');
    if (run.code !== 0) t.comment(run.stderr.slice(-3000));
    t.ok(run.events.some((e) => e['event'] === 'reconnected'), 'after reconnecting');
    const state = await sourceQemuState(source);
    t.same([state.bitmaps, state.exports], [[], []], 'no bitmap or export left');
    t.equal(await sha256(join(target.dir, 'disk-cut', 'vda')), await sha256(diskPath), 'the target disk is byte-identical to the paused source disk');
  });
}
