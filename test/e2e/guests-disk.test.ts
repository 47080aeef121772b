/** The guests with a disk (see guest-suites.ts for why the guests are split over two files). */
import t from 'tap';
import { runGuestSuites } from './guest-suites.js';
import { qemuDiskMigrate } from './qemu-disk-migrate.js';
import { qemuDiskRollback } from './qemu-disk-rollback.js';
import { qemuDiskWarm } from './qemu-disk-warm.js';

await runGuestSuites(t, [
  ['qemu-disk-migrate', qemuDiskMigrate],
  ['qemu-disk-rollback', qemuDiskRollback],
  ['qemu-disk-warm', qemuDiskWarm],
]);
