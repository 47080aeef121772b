/**
 * --dirty-log auto|soft-dirty|hash and --dirty-pid PID: which dirty source each --image gets. auto
 * takes soft-dirty where the kernel keeps the bits and the writer (--dirty-pid, or with --qmp the
 * process that maps the RAM file) maps the image, else hashing; soft-dirty insists, and says why it
 * cannot. The writer's SIGSTOP/SIGCONT go through one ProcessStopper, shared with --throttle-pid when
 * that names the same process, so the throttle never continues the writer inside a freeze.
 */
import { chooseDirtyLogs, isDirtyLogMode, ProcessStopper, type DirtyTracker, type DirtyWriter, type MigrateOptions } from '@ferry/agent-source';
import type { QemuLogger } from '@ferry/qemu';
import type { MigrateArgs } from './migrate-options.js';
import { UsageError } from './usage.js';

export interface DirtyLogs {
  readonly trackers: ReadonlyMap<string, DirtyTracker>;
  readonly hashReasons: ReadonlyMap<string, string>;
  /** The writer's stopper when --throttle-pid names the same process. */
  readonly stopper: ProcessStopper | undefined;
}

/** Checks the flags before anything connects. */
export function checkDirtyLogArgs(args: MigrateArgs): void {
  const mode = args['dirty-log'] ?? 'auto';
  if (!isDirtyLogMode(mode)) throw new UsageError(`--dirty-log ${mode} is not one of auto, soft-dirty, hash`);
  if (args['dirty-pid'] !== undefined) dirtyPid(args['dirty-pid']);
  if (mode === 'soft-dirty' && args['dirty-pid'] === undefined && args.qmp === undefined) {
    throw new UsageError('--dirty-log soft-dirty needs --dirty-pid PID (the process that writes the image through a shared mapping) or --qmp');
  }
}

export function buildDirtyLogs(args: MigrateArgs, options: MigrateOptions, logger: QemuLogger): DirtyLogs {
  const mode = args['dirty-log'] ?? 'auto';
  if (!isDirtyLogMode(mode)) throw new UsageError(`--dirty-log ${mode} is not one of auto, soft-dirty, hash`);
  const pid = args['dirty-pid'] !== undefined ? dirtyPid(args['dirty-pid']) : undefined;
  const stopper = pid !== undefined && args['throttle-pid'] !== undefined && Number(args['throttle-pid']) === pid ? new ProcessStopper(pid) : undefined;
  const writer: DirtyWriter = pid !== undefined ? { pid, ...(stopper ? { stopper } : {}) } : args.qmp !== undefined ? { findMapper: true } : undefined;
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

function dirtyPid(text: string): number {
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 1) throw new UsageError(`--dirty-pid ${text} must be a process id above 1`);
  try {
    process.kill(pid, 0);
  } catch (error) {
    throw new UsageError(`--dirty-pid ${pid}: no such process we may signal (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  return pid;
}
