/**
 * The guests' initramfs (scripts/build-guest.sh, scripts/build-node-guest.sh) load the kernel's modules
 * in an order that the packed modules' own dependency data allows, whatever point release of the kernel
 * is installed. It reads the built images, so it needs no QEMU run and stays off the guests' chains
 * (test/e2e/guest-chain.ts); building them here, beside the other files, also means the chains find
 * them built. Skipped where the guests are.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { nodeGuest } from '../helpers/node-guest.js';
import { buildGuest, qemuMissing } from '../helpers/qemu.js';

/** Unpacks the modules of `initrd` (its first archive holds them) and checks their load order. */
function checkModuleOrder(t: Test, initrd: string, mustHave: readonly string[]): void {
  const tree = mkdtempSync(join(tmpdir(), 'ferry-initramfs-'));
  t.teardown(() => rmSync(tree, { recursive: true, force: true }));
  const unpack = spawnSync('sh', ['-c', `gzip -dc ${JSON.stringify(initrd)} | cpio -id --quiet 'lib/modules/*'`], { cwd: tree, encoding: 'utf8' });
  t.equal(unpack.status, 0, `the initramfs unpacks (${unpack.stderr})`);
  const modules = join(tree, 'lib/modules');
  const order = readFileSync(join(modules, 'load-order'), 'utf8').split('\n').filter(Boolean);
  t.same([...order].sort(), readdirSync(modules).filter((name) => name.endsWith('.ko')).sort(), 'load-order names every packed module once');
  for (const name of mustHave) t.ok(order.some((file) => file.startsWith(`${name}.`)), `${name} is among them`);
  const loaded = new Set<string>();
  for (const file of order) {
    const depends = spawnSync('modinfo', ['-F', 'depends', join(modules, file)], { encoding: 'utf8' });
    t.equal(depends.status, 0, `modinfo reads ${file}`);
    const needed = depends.stdout.trim().split(',').filter(Boolean);
    const unmet = needed.filter((name) => !loaded.has(name));
    t.same(unmet, [], `${file} comes after what it depends on (${needed.join(', ') || 'nothing'})`);
    loaded.add(file.replace(/\.ko$/, '').replaceAll('-', '_'));
  }
}

const missing = qemuMissing();
const skip = missing === undefined ? false : `skipped: ${missing}`;

t.test('the test guest\'s initramfs loads every module after the modules it depends on', { skip }, async (t) => {
  checkModuleOrder(t, buildGuest().initrd, ['virtio_blk']);
});

t.test('the node guest\'s initramfs loads every module after the modules it depends on', { skip }, async (t) => {
  const guest = nodeGuest();
  if ('missing' in guest) t.plan(0, `skipped: ${guest.missing}`);
  else checkModuleOrder(t, guest.initrd, ['9p', 'veth', 'sch_netem']);
});
