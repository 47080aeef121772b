/**
 * Runs QEMU guest suites one after another inside one test file. A TCG guest keeps a core busy: four
 * beside each other overloaded this 2-core machine, and all of them in one file made that file the
 * suite's critical path (343 of 346 s). So two files hold them, `guests-ram.test.ts` and
 * `guests-disk.test.ts`, each taking one of tap's slots: at most two guests at once, with the other test
 * files beside them. One suite alone: `npx tap --node-arg=--import=tsx --grep qemu-throttle
 * test/e2e/guests-ram.test.ts`.
 */
import type { Test } from 'tap';
import { qemuMissing } from '../helpers/qemu.js';

export type GuestSuite = readonly [name: string, run: (t: Test) => Promise<void> | void];

export async function runGuestSuites(t: Test, suites: readonly GuestSuite[]): Promise<void> {
  // Each suite sets its own time limit (up to 30 minutes for node inside a guest); the file's is their sum.
  t.setTimeout(4 * 60 * 60 * 1000);
  // Without QEMU every suite is skipped here, with the reason, rather than each checking for itself.
  const missing = qemuMissing();
  for (const [name, suite] of suites) {
    await t.test(name, { skip: missing === undefined ? false : `skipped: ${missing}` }, (t) => suite(t));
  }
}
