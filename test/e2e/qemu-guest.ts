/**
 * The test guest itself (scripts/build-guest.sh, guest/init): its initramfs loads the kernel's virtio
 * modules in an order that the packed modules' own dependency data allows, whatever point release of
 * the kernel is installed, and a guest that cannot see its disk says so on the console and powers off,
 * so the test that booted it fails with that reason at once instead of after a kernel panic.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { buildGuest, guestArgs, QEMU, QemuScratch, waitForHeartbeats } from '../helpers/qemu.js';

/** This suite, on a subtest that test/e2e/guests.test.ts gives it (which runs the guest suites one at a time, and none without QEMU). */
export async function qemuGuest(t: Test): Promise<void> {
  t.test('the initramfs loads every module after the modules it depends on', async (t) => {
    const guest = buildGuest();
    const tree = mkdtempSync(join(tmpdir(), 'ferry-initramfs-'));
    t.teardown(() => rmSync(tree, { recursive: true, force: true }));
    const unpack = spawnSync('sh', ['-c', `gzip -dc ${JSON.stringify(guest.initrd)} | cpio -id --quiet 'lib/modules/*'`], { cwd: tree, encoding: 'utf8' });
    t.equal(unpack.status, 0, `the initramfs unpacks (${unpack.stderr})`);
    const modules = join(tree, 'lib/modules');
    const order = readFileSync(join(modules, 'load-order'), 'utf8').split('\n').filter(Boolean);
    t.same([...order].sort(), readdirSync(modules).filter((name) => name.endsWith('.ko')).sort(), 'load-order names every packed module once');
    t.ok(order.some((file) => file.startsWith('virtio_blk.')), 'virtio_blk is among them');
    const loaded = new Set<string>();
    for (const file of order) {
      const depends = spawnSync('modinfo', ['-F', 'depends', join(modules, file)], { encoding: 'utf8' });
      t.equal(depends.status, 0, `modinfo reads ${file}`);
      const needed = depends.stdout.trim().split(',').filter(Boolean);
      const unmet = needed.filter((name) => !loaded.has(name));
      t.same(unmet, [], `${file} comes after what it depends on (${needed.join(', ') || 'nothing'})`);
      loaded.add(file.replace(/\.ko$/, '').replaceAll('-', '_'));
    }
  });

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
