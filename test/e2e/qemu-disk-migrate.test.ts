/**
 * A QEMU guest with a disk, no shared storage: `ferry migrate --qmp --disk vda=vda` moves the RAM and
 * the 256 MiB virtio-blk disk while the guest keeps rewriting both. QEMU's dirty bitmaps tell ferry
 * which disk blocks changed; the target QEMU starts on the received disk (`{disk:vda}`).
 * The guest's disk blocks carry their sequence numbers and the guest's RAM knows which each should
 * hold, so a disk out of step with the RAM shows as DISK bad > 0 once the verifier re-reads it.
 */
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { QmpClient } from '@ferry/qemu';
import { runMigrate, sha256 } from '../helpers/ferry.js';
import { buildGuest, QemuScratch, qemuMissing, readDiskBeats, readHeartbeats, startQemuTarget, startSourceQemu, waitForHeartbeats, type GuestOptions } from './helpers-qemu.js';

const DISK_BYTES = 256 * 1024 * 1024;

const missing = qemuMissing();
if (missing !== undefined) {
  t.plan(0, `skipped: ${missing}`);
} else {
  t.setTimeout(420_000); // boots a guest under TCG and migrates 256 MiB of RAM and a 256 MiB disk
  t.test('a guest writing its disk moves with the disk; the target re-verifies every block', { timeout: 400_000 }, async (t) => {
    const scratch = new QemuScratch(t);
    const diskPath = scratch.path('source-vda.raw');
    writeFileSync(diskPath, '');
    truncateSync(diskPath, DISK_BYTES);
    const options: GuestOptions = { guest: buildGuest(), ramMiB: 256, touchMiB: 32, rate: 1000, sweep: 4, disk: { path: diskPath, mib: 16, rate: 100 } };
    const source = await startSourceQemu(scratch, options);
    const target = await startQemuTarget(t, scratch, options);

    // --keep-source: the source stays paused after the commit, so its disk can be compared with the target's.
    const run = await runMigrate(t, ['--to', target.url, '--image', `ram=${source.ramPath}`, '--qmp', source.qmpPath, '--disk', 'vda=vda', '--keep-source', '--id', 'disk-a']);
    t.equal(run.code, 0, 'migrate exits 0');
    if (run.code !== 0) t.comment(run.stderr.slice(-3000));
    t.comment(`summary: ${JSON.stringify({ ...run.summary, history: undefined })}`);
    const disks = run.summary['disks'] as Record<string, { bytesSent: number; passes: number }> | undefined;
    t.ok(disks?.['vda'] && disks['vda'].bytesSent > 16 * 1024 * 1024 && disks['vda'].passes >= 2,
      `the summary reports the disk: ${JSON.stringify(disks)}`);
    t.ok(run.events.some((e) => e['event'] === 'progress' && typeof e['diskBytesSent'] === 'number'), 'progress events carry the disk bytes');

    const qmp = await QmpClient.connect(source.qmpPath, { timeoutMs: 5000 });
    const status = await qmp.execute<{ status: string }>('query-status');
    const nodes = await qmp.execute<Array<{ 'node-name': string; 'dirty-bitmaps'?: unknown[] }>>('query-named-block-nodes', { flat: true });
    const exports = await qmp.execute<unknown[]>('query-block-exports');
    await qmp.close();
    t.not(status.status, 'running', `the source stays paused (${status.status})`);
    t.same(nodes.flatMap((n) => n['dirty-bitmaps'] ?? []), [], 'no dirty bitmap left on the source');
    t.same(exports, [], 'no NBD export left on the source');
    t.equal(await sha256(join(target.dir, 'disk-a', 'vda')), await sha256(diskPath), 'the target disk is byte-identical to the paused source disk');

    const sourceDisk = readDiskBeats(source.serialPath);
    const lastSource = sourceDisk.at(-1)!;
    t.ok(sourceDisk.every((b) => b.bad === 0), 'the source guest never read a bad disk block');
    const targetBeats = await waitForHeartbeats(target.serialPath, () => {
      const disk = readDiskBeats(target.serialPath);
      return disk.length > 0 && disk.at(-1)!.sweeps >= lastSource.sweeps + 2;
    }, 120_000).catch((error: Error) => {
      t.fail(error.message);
      return readHeartbeats(target.serialPath);
    });
    const targetDisk = readDiskBeats(target.serialPath);
    t.ok(targetBeats[0] && targetBeats[0].counter > (readHeartbeats(source.serialPath).at(-1)?.counter ?? 0), 'the heartbeat counter continues on the target');
    t.ok(targetBeats.every((b) => b.bad === 0), 'RAM: bad=0 on the target');
    t.ok(targetDisk.length > 0 && targetDisk.every((b) => b.bad === 0),
      `disk: bad=0 on the target through a whole sweep started after the resume (sweeps ${lastSource.sweeps} -> ${targetDisk.at(-1)?.sweeps})`);
    t.ok((targetDisk.at(-1)?.written ?? 0) > lastSource.written, 'the guest keeps writing its disk on the target');
  });
}
