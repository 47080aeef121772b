/**
 * Runs QEMU guest suites one after another on one tap test file. A TCG guest keeps a core busy: four of
 * them beside each other overloaded this 2-core machine, and all of them on one chain made that chain
 * the suite's longest path. So the suites run on two chains, `guests-ram.test.ts` and
 * `guests-disk.test.ts`, each in one of tap's slots beside the other test files.
 */
import { setPriority } from 'node:os';
import t, { type Test } from 'tap';
import { qemuMissing } from '../helpers/qemu.js';

export type GuestSuite = readonly [name: string, suite: (t: Test) => Promise<void>];

export async function runGuestChain(suites: readonly GuestSuite[]): Promise<void> {
  // Each suite sets its own time limit (up to 30 minutes for node inside a guest); the file's is their sum.
  t.setTimeout(4 * 60 * 60 * 1000);
  // Without QEMU every suite is skipped here, with the reason, rather than each checking for itself.
  const missing = qemuMissing();
  preferGuests();
  for (const [name, suite] of suites) await t.test(name, { skip: missing === undefined ? false : `skipped: ${missing}` }, (t) => suite(t));
}

/**
 * The guests' QEMUs, and the ferry processes beside them, run ahead of the other test files: starved of
 * CPU, a 2-vCPU TCG guest slows far more than the load alone explains (node inside one took 47 s alone,
 * 240-262 s beside four other files, and once rolled back). Children inherit the priority. Raising it
 * needs root (or CAP_SYS_NICE); without, the guests share the CPU evenly and only take longer.
 */
function preferGuests(): void {
  try {
    setPriority(-5);
  } catch (error) {
    t.comment(`the guests run at the default priority: ${String(error)}`);
  }
}
