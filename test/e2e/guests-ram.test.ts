/** The guests migrating RAM only (see guest-suites.ts for why the guests are split over two files). */
import t from 'tap';
import { runGuestSuites } from './guest-suites.js';
import { qemuGuest } from './qemu-guest.js';
import { qemuMigrate } from './qemu-migrate.js';
import { qemuRollback } from './qemu-rollback.js';
import { qemuThrottle } from './qemu-throttle.js';
import { softDirtyGuest } from './soft-dirty-guest.js';

await runGuestSuites(t, [
  ['qemu-guest', qemuGuest],
  ['qemu-migrate', qemuMigrate],
  ['qemu-rollback', qemuRollback],
  ['qemu-throttle', qemuThrottle],
  ['soft-dirty-guest', softDirtyGuest],
]);
