/**
 * The QEMU guests, one suite after another in this one test file. A TCG guest keeps a core busy, and four
 * of them beside each other overloaded this 2-core machine; run one at a time as tap's `serial` files,
 * they kept a core idle for six minutes of the suite. Here they take one of tap's slots and the other
 * test files run beside them. One suite alone: `npx tap --node-arg=--import=tsx --grep qemu-throttle
 * test/e2e/guests.test.ts`.
 */
import t from 'tap';
import { qemuMissing } from '../helpers/qemu.js';
import { qemuDiskMigrate } from './qemu-disk-migrate.js';
import { qemuDiskRollback } from './qemu-disk-rollback.js';
import { qemuDiskWarm } from './qemu-disk-warm.js';
import { qemuGuest } from './qemu-guest.js';
import { qemuMigrate } from './qemu-migrate.js';
import { qemuRollback } from './qemu-rollback.js';
import { qemuThrottle } from './qemu-throttle.js';
import { softDirtyGuest } from './soft-dirty-guest.js';

const SUITES = [
  ['qemu-guest', qemuGuest],
  ['qemu-migrate', qemuMigrate],
  ['qemu-rollback', qemuRollback],
  ['qemu-throttle', qemuThrottle],
  ['qemu-disk-migrate', qemuDiskMigrate],
  ['qemu-disk-rollback', qemuDiskRollback],
  ['qemu-disk-warm', qemuDiskWarm],
  ['soft-dirty-guest', softDirtyGuest],
] as const;

// Each suite sets its own time limit (up to 30 minutes for node inside a guest); the file's is their sum.
t.setTimeout(4 * 60 * 60 * 1000);
// Without QEMU every suite is skipped here, with the reason, rather than each checking for itself.
const missing = qemuMissing();
for (const [name, suite] of SUITES) await t.test(name, { skip: missing === undefined ? false : `skipped: ${missing}` }, (t) => suite(t));
