/**
 * The guests with a disk, one suite after another (./guest-chain.ts): the guest that cannot see its disk,
 * then ferry moving a disk with the RAM. One suite alone: `npx tap --node-arg=--import=tsx --grep
 * qemu-disk-warm test/e2e/guests-disk.test.ts`.
 */
import { runGuestChain } from './guest-chain.js';
import { qemuDiskMigrate } from './qemu-disk-migrate.js';
import { qemuDiskRollback } from './qemu-disk-rollback.js';
import { qemuDiskWarm } from './qemu-disk-warm.js';
import { qemuGuest } from './qemu-guest.js';

await runGuestChain([
  ['qemu-guest', qemuGuest],
  ['qemu-disk-migrate', qemuDiskMigrate],
  ['qemu-disk-rollback', qemuDiskRollback],
  ['qemu-disk-warm', qemuDiskWarm],
]);
