/**
 * The test guest's initramfs (scripts/build-guest.sh) loads the kernel's virtio modules in an order that
 * the packed modules' own dependency data allows, whatever point release of the kernel is installed.
 * It reads the built initramfs, so it needs no QEMU run and stays off the guests' chain
 * (test/e2e/guests.test.ts); it is skipped where the guests are.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildGuest, qemuMissing } from '../helpers/qemu.js';

const missing = qemuMissing();
t.test('the initramfs loads every module after the modules it depends on', { skip: missing === undefined ? false : `skipped: ${missing}` }, async (t) => {
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
