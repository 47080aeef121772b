/**
 * A QEMU guest with a disk, no shared storage: `ferry migrate --qmp --disk vda=vda` moves the RAM and
 * the 256 MiB virtio-blk disk while the guest keeps rewriting both. QEMU's dirty bitmaps tell ferry
 * which disk blocks changed; the target QEMU starts on the received disk (`{disk:vda}`).
 * The guest's disk blocks carry their sequence numbers and the guest's RAM knows which each should
 * hold, so a disk out of step with the RAM shows as DISK bad > 0 once the verifier re-reads it.
 * A qcow2 source disk moves the same way, read through QEMU's FUSE view of the node, and arrives raw.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { QmpClient } from '@ferry/qemu';
import { runMigrate, sha256 } from '../helpers/ferry.js';
import { buildGuest, QemuScratch, readDiskBeats, readHeartbeats, startQemuTarget, startSourceQemu, waitForHeartbeats, type GuestOptions, type SourceQemu } from '../helpers/qemu.js';

const DISK_BYTES = 256 * 1024 * 1024;

/** This suite, on a subtest that test/e2e/guests-disk.test.ts gives it (./guest-chain.ts: one guest suite at a time, none without QEMU). */
export async function qemuDiskMigrate(t: Test): Promise<void> {
  // ferry makes its disk views in the temporary folder: a folder of this suite's own (inherited by every ferry
  // it starts) keeps views of test files running beside it out of the check that none is left behind.
  const privateTmp = mkdtempSync(join(tmpdir(), 'disk-migrate-tmp-'));
  const previousTmp = process.env['TMPDIR'];
  process.env['TMPDIR'] = privateTmp;
  t.teardown(() => {
    if (previousTmp === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = previousTmp;
    rmSync(privateTmp, { recursive: true, force: true });
  });

  t.setTimeout(600_000); // boots guests under TCG and migrates 256 MiB of RAM and a 256 MiB disk, then a smaller qcow2 guest
  t.test('a guest writing its disk moves with the disk; the target re-verifies every block', { timeout: 400_000 }, async (t) => {
    const scratch = new QemuScratch(t);
    const diskPath = scratch.path('source-vda.raw');
    writeFileSync(diskPath, '');
    truncateSync(diskPath, DISK_BYTES);
    const options: GuestOptions = { guest: buildGuest(), ramMiB: 256, touchMiB: 32, rate: 1000, sweep: 4, disk: { path: diskPath, mib: 16, rate: 100 } };
    const { run, source, target } = await migrateDiskGuest(t, scratch, options, 'disk-a');
    const disks = run.summary['disks'] as Record<string, { bytesSent: number; passes: number }> | undefined;
    // The guest filled 16 MiB of the disk; the bytes on the wire for it vary with how pages were encoded.
    t.ok(disks?.['vda'] && disks['vda'].bytesSent > 8 * 1024 * 1024 && disks['vda'].passes >= 2,
      `the summary reports the disk: ${JSON.stringify(disks)}`);
    t.ok(run.events.some((e) => e['event'] === 'progress' && typeof e['diskBytesSent'] === 'number'), 'progress events carry the disk bytes');
    t.equal(await sha256(join(target.dir, 'disk-a', 'vda')), await sha256(diskPath), 'the target disk is byte-identical to the paused source disk');
    await checkGuestContinues(t, source, target.serialPath);
  });

  t.test('a qcow2 disk moves through its FUSE view and arrives as a raw file with the same guest bytes', { timeout: 300_000, skip: existsSync('/dev/fuse') ? false : 'no /dev/fuse on this machine' }, async (t) => {
    const scratch = new QemuScratch(t);
    const diskPath = scratch.path('source-vda.qcow2');
    const created = spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', diskPath, '64M'], { encoding: 'utf8' });
    t.equal(created.status, 0, `qemu-img create ${created.stderr}`);
    const options: GuestOptions = { guest: buildGuest(), ramMiB: 128, touchMiB: 16, rate: 1000, sweep: 4, disk: { path: diskPath, mib: 16, rate: 100, format: 'qcow2' } };
    const viewsBefore = ferryDiskViews();
    const { source, target } = await migrateDiskGuest(t, scratch, options, 'disk-q');
    const asRaw = scratch.path('source-vda.raw');
    // -U: the paused source QEMU still holds the image's lock; it writes nothing while paused.
    const converted = spawnSync('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', diskPath, asRaw], { encoding: 'utf8' });
    t.equal(converted.status, 0, `qemu-img convert ${converted.stderr}`);
    t.equal(await sha256(join(target.dir, 'disk-q', 'vda')), await sha256(asRaw), 'the raw target disk holds exactly the guest bytes of the paused source qcow2');
    t.same(ferryDiskViews(), viewsBefore, 'the FUSE view file is gone');
    await checkGuestContinues(t, source, target.serialPath);
  });
}

/** Migrates with --keep-source (the source stays paused, to compare disks) and checks nothing of ferry's stays on the source QEMU. */
async function migrateDiskGuest(t: Test, scratch: QemuScratch, options: GuestOptions, id: string) {
  const source = await startSourceQemu(scratch, options);
  const target = await startQemuTarget(t, scratch, options);
  const run = await runMigrate(t, ['--to', target.url, '--image', `ram=${source.ramPath}`, '--qmp', source.qmpPath, '--disk', 'vda=vda', '--keep-source', '--id', id]);
  t.equal(run.code, 0, 'migrate exits 0');
  if (run.code !== 0) t.comment(run.stderr.slice(-3000));
  t.comment(`summary: ${JSON.stringify({ ...run.summary, history: undefined })}`);
  const qmp = await QmpClient.connect(source.qmpPath, { timeoutMs: 5000 });
  const status = await qmp.execute<{ status: string }>('query-status');
  const nodes = await qmp.execute<Array<{ 'node-name': string; 'dirty-bitmaps'?: unknown[] }>>('query-named-block-nodes', { flat: true });
  const exports = await qmp.execute<unknown[]>('query-block-exports');
  await qmp.close();
  t.not(status.status, 'running', `the source stays paused (${status.status})`);
  t.same(nodes.flatMap((n) => n['dirty-bitmaps'] ?? []), [], 'no dirty bitmap left on the source');
  t.same(exports, [], 'no NBD or FUSE export left on the source');
  return { run, source, target };
}

/** The target guest counts on, re-reads every disk block with bad=0 through a whole sweep, and keeps writing. */
async function checkGuestContinues(t: Test, source: SourceQemu, targetSerial: string): Promise<void> {
  const sourceDisk = readDiskBeats(source.serialPath);
  const lastSource = sourceDisk.at(-1)!;
  t.ok(sourceDisk.every((b) => b.bad === 0), 'the source guest never read a bad disk block');
  const targetBeats = await waitForHeartbeats(targetSerial, () => {
    const disk = readDiskBeats(targetSerial);
    return disk.length > 0 && disk.at(-1)!.sweeps >= lastSource.sweeps + 2;
  }, 120_000).catch((error: Error) => {
    t.fail(error.message);
    return readHeartbeats(targetSerial);
  });
  const targetDisk = readDiskBeats(targetSerial);
  t.ok(targetBeats[0] && targetBeats[0].counter > (readHeartbeats(source.serialPath).at(-1)?.counter ?? 0), 'the heartbeat counter continues on the target');
  t.ok(targetBeats.every((b) => b.bad === 0), 'RAM: bad=0 on the target');
  t.ok(targetDisk.length > 0 && targetDisk.every((b) => b.bad === 0),
    `disk: bad=0 on the target through a whole sweep started after the resume (sweeps ${lastSource.sweeps} -> ${targetDisk.at(-1)?.sweeps})`);
  t.ok((targetDisk.at(-1)?.written ?? 0) > lastSource.written, 'the guest keeps writing its disk on the target');
}

const ferryDiskViews = (): string[] => readdirSync(tmpdir()).filter((name) => name.startsWith('ferry-disk-')).sort();
