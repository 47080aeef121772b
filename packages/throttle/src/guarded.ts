import type { QmpClient } from '@ferry/qemu';
import { cgroupThrottle } from './cgroup.js';
import type { SharedStopper, Throttle } from './driver.js';
import { ThrottleGuard, type UndoListener } from './guard.js';
import { pidThrottle } from './pid.js';
import { QemuThrottle } from './qmp.js';
import { armedUndo, type UndoStep } from './undo.js';

/** The workload to slow: a cgroup, one process (sharing `stopper` with the soft-dirty log when it holds the same one), or a QEMU guest. */
export type ThrottleTarget =
  | { readonly kind: 'cgroup'; readonly dir: string }
  | { readonly kind: 'pid'; readonly pid: number; readonly stopper?: SharedStopper | undefined }
  | { readonly kind: 'qmp'; readonly qmp: QmpClient; readonly socket: string };

/** A throttle whose undo steps a listener (the journal) hears each time they change. */
export interface GuardedThrottle extends Throttle {
  onUndoChange(listener: UndoListener): void;
}

/**
 * The throttle of `target`, guarded: a guardian process (guard.ts) undoes the throttle if ferry dies
 * while throttling, and the listeners of onUndoChange (the journal, for `ferry recover`) hear the same
 * undo steps. `close` restores full speed and disarms the guardian (or, if the restore failed, leaves
 * it to the guardian). Throws ThrottleSetupError when the workload cannot be throttled.
 */
export function guardedThrottle(target: ThrottleTarget): { throttle: GuardedThrottle; close: () => Promise<void> } {
  const built = target.kind === 'cgroup' ? cgroupThrottle(target.dir)
    : target.kind === 'pid' ? pidThrottle(target.pid, target.stopper)
      : { driver: new QemuThrottle(target.qmp), undo: { kind: 'qmp-cont', socket: target.socket } as const };
  const guard = new ThrottleGuard();
  const throttle = guarded(built.driver, built.undo, guard);
  return {
    throttle,
    close: async () => {
      const restored = await throttle.restore().then(() => true, () => false);
      await guard.close(restored);
    },
  };
}

/**
 * `driver` with its guardian kept in step: armed before the throttle first touches the workload,
 * disarmed only once it has let go, and never armed again after the hold for the pause.
 */
export function guarded(driver: Throttle, step: UndoStep, guard: ThrottleGuard): GuardedThrottle {
  let engaged = false;
  let held = false;
  return {
    name: driver.name,
    async set(level) {
      const undo = armedUndo(step, level > 0, held);
      if (undo.length > 0) await guard.set(undo);
      engaged = level > 0;
      await driver.set(level);
      if (undo.length === 0) await guard.set(undo);
    },
    async hold() {
      held = true;
      await driver.hold();
      await guard.set(armedUndo(step, engaged, held));
    },
    async restore() {
      await driver.restore();
      engaged = false;
      await guard.set([]);
    },
    onUndoChange: (listener) => guard.onChange(listener),
  };
}
