/**
 * Warm start with a disk: a guest whose 256 MiB disk is full of data moves to host B, runs there a
 * little (its workload rewrites blocks in the first 8 MiB, about 3% of the disk), and moves back to a
 * target that still holds the disk from the first move (`--base vda=...`). Only the blocks that differ
 * cross the link: the disk bytes of the move back are at most 10% of the cold move's.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { join } from 'node:path';
import type { Test } from 'tap';
import { runMigrate, sha256, startTarget } from '../helpers/ferry.js';
import {
  buildGuest, QemuScratch, readDiskBeats, startSourceQemu, targetTemplate, waitForHeartbeats, type GuestOptions,
} from '../helpers/qemu.js';

const MiB = 1024 * 1024;

/** A 256 MiB disk full of incompressible data, like a used filesystem: a cold move must carry all of it. */
function fullDisk(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = new Uint8Array(4 * MiB);
  for (let i = 0; i < 64; i++) writeSync(fd, randomFillSync(chunk));
  closeSync(fd);
}

const diskBytes = (summary: Record<string, unknown>): number =>
  (summary['disks'] as Record<string, { bytesSent: number }> | undefined)?.['vda']?.bytesSent ?? Number.NaN;

/** This suite, on a subtest that test/e2e/guests-disk.test.ts gives it (./guest-chain.ts: one guest suite at a time, none without QEMU). */
export async function qemuDiskWarm(t: Test): Promise<void> {
  t.setTimeout(600_000); // a guest under TCG moves twice with 256 MiB of RAM and 256 MiB of disk
  t.test('moving back to a host that holds the old disk sends only the changed blocks', { timeout: 580_000 }, async (t) => {
    const scratch = new QemuScratch(t);
    const diskA = scratch.path('a-vda.raw');
    fullDisk(diskA);
    const guest = buildGuest();
    const disk = { mib: 8, rate: 100 };
    const options: GuestOptions = { guest, ramMiB: 256, touchMiB: 32, rate: 1000, sweep: 2, disk: { path: diskA, ...disk } };
    const source = await startSourceQemu(scratch, options);

    // Cold: A -> B. B's guest writes the received disk itself (no snapshot), so it can move on.
    const dirB = scratch.path('b');
    mkdirSync(dirB);
    const serialB = scratch.path('b-serial.log');
    const pidB = scratch.path('b-qemu.pid');
    scratch.killAtEnd(pidB);
    const optionsB: GuestOptions = { ...options, disk: { path: '', ...disk, targetSnapshot: false } };
    const targetB = await startTarget(t, dirB, ['--qemu-cmd', targetTemplate(optionsB, serialB, pidB)]);
    const cold = await runMigrate(t, ['--to', targetB.url, '--image', `ram=${source.ramPath}`, '--qmp', source.qmpPath, '--disk', 'vda=vda', '--keep-source', '--id', 'cold']);
    t.equal(cold.code, 0, 'the cold move commits');
    if (cold.code !== 0) t.comment(cold.stderr.slice(-3000));
    const coldDisk = diskBytes(cold.summary);
    t.ok(coldDisk > 200 * MiB, `the cold move carries the whole disk: ${coldDisk} bytes`);

    // B runs a few seconds (a full disk verify sweep), changing some blocks of its 8 MiB work area.
    await waitForHeartbeats(serialB, () => (readDiskBeats(serialB).at(-1)?.sweeps ?? 0) >= 2, 120_000)
      .catch((error: Error) => t.fail(error.message));
    t.ok(readDiskBeats(serialB).every((b) => b.bad === 0), 'B reads good blocks');

    // Warm: B -> A', which holds A's disk as it was at the first pause.
    const dirA2 = scratch.path('a2');
    mkdirSync(dirA2);
    const serialA2 = scratch.path('a2-serial.log');
    const pidA2 = scratch.path('a2-qemu.pid');
    scratch.killAtEnd(pidA2);
    const targetA2 = await startTarget(t, dirA2, ['--base', `vda=${diskA}`, '--qemu-cmd', targetTemplate(options, serialA2, pidA2)]);
    const warm = await runMigrate(t, [
      '--to', targetA2.url, '--image', `ram=${join(dirB, 'cold', 'ram')}`, '--qmp', join(dirB, 'cold', 'qmp.sock'), '--disk', 'vda=vda', '--keep-source', '--id', 'warm',
    ]);
    t.equal(warm.code, 0, 'the warm move commits');
    if (warm.code !== 0) t.comment(warm.stderr.slice(-3000));
    const warmDisk = diskBytes(warm.summary);
    t.ok(warmDisk <= coldDisk * 0.1, `disk bytes: warm ${warmDisk} <= 10% of cold ${coldDisk} (${((100 * warmDisk) / coldDisk).toFixed(1)}%)`);
    t.equal(await sha256(join(dirA2, 'warm', 'vda')), await sha256(join(dirB, 'cold', 'vda')), 'the disk back on A is byte-identical to B\'s paused disk');

    await waitForHeartbeats(serialA2, () => (readDiskBeats(serialA2).at(-1)?.sweeps ?? 0) >= (readDiskBeats(serialB).at(-1)?.sweeps ?? 0) + 2, 120_000)
      .catch((error: Error) => t.fail(error.message));
    t.ok(readDiskBeats(serialA2).length > 0 && readDiskBeats(serialA2).every((b) => b.bad === 0), 'back on A, a whole sweep reads good blocks');
  });
}
