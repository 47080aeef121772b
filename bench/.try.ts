import { join } from 'node:path';
import { buildGuest, type GuestOptions } from '/work/wt-disk/test/e2e/helpers-qemu.js';
import { ferryDiskRun, qemuDiskRun } from '/work/wt-disk/bench/qemu-disk.js';
const root = '/work/wt-disk';
const q10 = [join(root, '.cache/qemu10/usr/bin/qemu-system-x86_64'), '-L', join(root, '.cache/qemu10/usr/share/qemu')];
const base: GuestOptions = { guest: buildGuest(), ramMiB: 256, touchMiB: 64, rate: 2000, sweep: 4, qemu: q10 };
const which = process.argv[2] ?? 'qemu';
const wan = process.argv[3] === 'wan';
const fns: Array<() => unknown> = [];
const cleanup = { teardown: (fn: () => unknown) => fns.push(fn) };
try {
  const row = await (which === 'qemu' ? qemuDiskRun : ferryDiskRun)(which, base, wan, cleanup);
  console.log(JSON.stringify(row));
} catch (e) { console.log('ERR', e); }
for (const fn of fns.reverse()) await fn();
process.exit(0);
