import type { ProcessStopper, ThrottleDriver } from '@ferry/agent-source';
import type { QemuSourceDriver } from '@ferry/qemu';
import type { MigrateArgs } from '../migrate-options.js';
import { UsageError } from '../usage.js';
import { cgroupThrottle } from './cgroup.js';
import { ThrottleGuard } from './guard.js';
import { pidThrottle } from './pid.js';
import { armedUndo, type UndoStep } from './undo.js';

/**
 * The throttle driver the flags ask for: --cgroup or --throttle-pid when given (they name the workload
 * itself), else the QEMU guest of --qmp; none with --throttle off or when nothing names the workload.
 * It comes guarded: a guardian process (guard.ts) undoes the throttle if ferry dies while throttling,
 * and the journal records the same undo steps for `ferry recover`. `close` restores full speed and
 * disarms the guardian (or, if the restore failed, leaves it to the guardian). `stopper`: the soft-dirty
 * log's hold on the same process as --throttle-pid, which the duty cycle must share.
 */
export function buildThrottle(args: MigrateArgs, qemu: QemuSourceDriver | undefined, stopper?: ProcessStopper): { throttle: ThrottleDriver | undefined; close: () => Promise<void> } {
  if (args.throttle === 'off') return { throttle: undefined, close: async () => {} };
  if (args.cgroup !== undefined && args['throttle-pid'] !== undefined) throw new UsageError('give --cgroup or --throttle-pid, not both');
  // The duty cycle ends stopped or running at the pause; only a pause hook makes that the same thing.
  if (args['throttle-pid'] !== undefined && args['pause-cmd'] === undefined && args.qmp === undefined) {
    throw new UsageError('--throttle-pid needs --pause-cmd (e.g. kill -STOP PID) and --resume-cmd, or --qmp');
  }
  const built = args.cgroup !== undefined ? cgroupThrottle(args.cgroup)
    : args['throttle-pid'] !== undefined ? pidThrottle(args['throttle-pid'], stopper)
      : qemu !== undefined && args.qmp !== undefined ? { driver: qemu.throttle(), undo: { kind: 'qmp-cont', socket: args.qmp } as const } : undefined;
  if (built === undefined) return { throttle: undefined, close: async () => {} };
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
export function guarded(driver: ThrottleDriver, step: UndoStep, guard: ThrottleGuard): ThrottleDriver {
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
