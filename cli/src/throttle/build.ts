import type { QemuSourceDriver, QemuThrottle } from '@ferry/qemu';
import type { MigrateArgs } from '../migrate-options.js';
import { UsageError } from '../usage.js';
import { cgroupThrottle } from './cgroup.js';
import type { CliThrottleDriver } from './driver.js';
import { pidThrottle } from './pid.js';

/**
 * The throttle driver the flags ask for: --cgroup or --throttle-pid when given (they name the workload
 * itself), else the QEMU guest of --qmp; none with --throttle off or when nothing names the workload.
 * While it exists, a process-exit handler undoes what it did, so a crash of ferry never leaves the
 * workload stopped or limited; `close` removes that handler after the explicit restore.
 */
export function buildThrottle(args: MigrateArgs, qemu: QemuSourceDriver | undefined): { throttle: CliThrottleDriver | undefined; close: () => Promise<void> } {
  if (args.throttle === 'off') return { throttle: undefined, close: async () => {} };
  if (args.cgroup !== undefined && args['throttle-pid'] !== undefined) throw new UsageError('give --cgroup or --throttle-pid, not both');
  // The duty cycle ends stopped or running at the pause; only a pause hook makes that the same thing.
  if (args['throttle-pid'] !== undefined && args['pause-cmd'] === undefined && args.qmp === undefined) {
    throw new UsageError('--throttle-pid needs --pause-cmd (e.g. kill -STOP PID) and --resume-cmd, or --qmp');
  }
  const throttle = args.cgroup !== undefined ? cgroupThrottle(args.cgroup)
    : args['throttle-pid'] !== undefined ? pidThrottle(args['throttle-pid'])
      : qemu !== undefined ? qemuThrottle(qemu.throttle()) : undefined;
  if (throttle === undefined) return { throttle, close: async () => {} };
  const onExit = (): void => throttle.restoreNow();
  process.on('exit', onExit);
  return {
    throttle,
    close: async () => {
      await throttle.restore().catch(() => undefined);
      process.off('exit', onExit);
    },
  };
}

function qemuThrottle(driver: QemuThrottle): CliThrottleDriver {
  return {
    name: driver.name, set: (level) => driver.set(level), hold: () => driver.hold(), restore: () => driver.restore(), restoreNow: () => driver.restoreNow(),
  };
}
