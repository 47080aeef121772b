/**
 * The guests whose RAM and device state ferry moves, one suite after another (./guest-chain.ts). One
 * suite alone: `npx tap --node-arg=--import=tsx --grep qemu-throttle test/e2e/guests-ram.test.ts`.
 */
import { runGuestChain } from './guest-chain.js';
import { qemuMigrate } from './qemu-migrate.js';
import { qemuRollback } from './qemu-rollback.js';
import { qemuThrottle } from './qemu-throttle.js';
import { softDirtyGuest } from './soft-dirty-guest.js';

await runGuestChain([
  ['qemu-migrate', qemuMigrate],
  ['qemu-rollback', qemuRollback],
  ['qemu-throttle', qemuThrottle],
  ['soft-dirty-guest', softDirtyGuest],
]);
