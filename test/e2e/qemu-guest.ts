/**
 * The test guest itself (scripts/build-guest.sh, guest/init): a guest that cannot see its disk says so
 * on the console and powers off, so the test that booted it fails with that reason at once instead of
 * after a kernel panic. (test/integration/guest-initramfs.test.ts checks its module order, without QEMU.)
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Test } from 'tap';
import { buildGuest, guestArgs, QEMU, QemuScratch, waitForHeartbeats } from '../helpers/qemu.js';

/** This suite, on a subtest that test/e2e/guests-disk.test.ts gives it (./guest-chain.ts: one guest suite at a time, none without QEMU). */
export async function qemuGuest(t: Test): Promise<void> {
  t.test('a guest that cannot see its disk says so and powers off; no kernel panic', async (t) => {
    const scratch = new QemuScratch(t);
    const ramPath = scratch.path('nodisk.ram');
    const serialPath = scratch.path('nodisk-serial.log');
    // The kernel command line asks for /dev/vda, but no disk device is attached.
    const args = guestArgs({ guest: buildGuest(), ramMiB: 128, disk: { path: 'unused' } }, ramPath, serialPath);
    const child = spawn(QEMU, args, { stdio: 'ignore' });
    scratch.track(child);
    const exited = new Promise((resolve) => child.once('close', resolve));
    await t.rejects(waitForHeartbeats(serialPath, (beats) => beats.length > 0, 90_000, exited), /the guest gave up: no block device \/dev\/vda after loading .*virtio_blk/);
    t.notMatch(readFileSync(serialPath, 'utf8'), /Kernel panic/, 'init powered off instead of dying');
  });
}
