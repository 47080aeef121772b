/**
 * --dirty-log auto|soft-dirty|hash and --dirty-pid PID: which dirty source each --image gets. auto
 * takes soft-dirty where the kernel keeps the bits and the writer (--dirty-pid, or with --qmp the
 * process that maps the RAM file) maps the image, else hashing; soft-dirty insists, and says why it
 * cannot. The writer's SIGSTOP/SIGCONT go through one ProcessStopper, shared with --throttle-pid when
 * that names the same process, so the throttle never continues the writer inside a freeze.
 */
import { chooseDirtyLogs, ProcessStopper, type DirtyTracker, type DirtyWriter, type MigrateOptions } from '@ferry/agent-source';
import type { QemuLogger } from '@ferry/qemu';
import type { MigratePlan } from './migrate-plan.js';
import { UsageError } from './usage.js';

export interface DirtyLogs {
  readonly trackers: ReadonlyMap<string, DirtyTracker>;
  readonly hashReasons: ReadonlyMap<string, string>;
  /** The writer's stopper when --throttle-pid names the same process. */
  readonly stopper: ProcessStopper | undefined;
}

export function buildDirtyLogs(plan: MigratePlan, options: MigrateOptions, logger: QemuLogger): DirtyLogs {
  const { mode, pid } = plan.dirtyLog;
  const stopper = pid !== undefined && plan.throttle?.kind === 'pid' && plan.throttle.pid === pid ? new ProcessStopper(pid) : undefined;
  const writer: DirtyWriter = pid !== undefined ? { pid, ...(stopper ? { stopper } : {}) } : plan.qemu !== undefined ? { findMapper: true } : undefined;
  const choices = chooseDirtyLogs(mode, options.images.map((i) => ({ ...i, pageSize: options.pageSize })), writer, undefined,
    (image, reason) => logger.warn({ image, reason }, 'soft-dirty log given up; hashing from now on'));
  const trackers = new Map<string, DirtyTracker>();
  const hashReasons = new Map<string, string>();
  for (const [name, choice] of choices) {
    if (choice.method === 'soft-dirty') trackers.set(name, choice.tracker);
    else if (mode === 'soft-dirty') throw new UsageError(`--dirty-log soft-dirty: image ${name}: ${choice.reason}`);
    else hashReasons.set(name, choice.reason);
  }
  return { trackers, hashReasons, stopper };
}
