/**
 * Everything a source migration needs besides its options, built from the plan (migrate-plan.ts) in one
 * place for `ferry migrate` and `ferry source`: the hooks (shell commands, a QEMU guest over --qmp, or
 * both), the dirty trackers of the --disk images and (--dirty-log) of the --image files a known process
 * writes, the throttle driver, and the journal with its recovery recipe. The agent only ever sees the
 * SourceHooks, DirtyTracker and ThrottleDriver seams.
 */
import type { MigrateOptions, MigrationSeams, ProcessStopper, ThrottleDriver } from '@ferry/agent-source';
import { QemuSourceDriver, type QemuLogger } from '@ferry/qemu';
import { guardedThrottle, ThrottleSetupError, type ThrottleTarget } from '@ferry/throttle';
import { buildDirtyLogs } from './dirty-logs.js';
import type { MigratePlan } from './migrate-plan.js';
import { buildSourceDisks, type SourceDisks } from './source-disks.js';
import { commandHooks, qemuHooks, recoveryRecipe } from './source-hooks.js';
import { UsageError } from './usage.js';

/** The seams, with the options the --disk images were added to. */
export type SourceSeams = MigrationSeams & { readonly options: MigrateOptions };

export async function buildSourceSeams(plan: MigratePlan, options: MigrateOptions, logger: QemuLogger): Promise<SourceSeams> {
  const logs = buildDirtyLogs(plan, options, logger);
  const qemu = plan.qemu ? await QemuSourceDriver.connect(plan.qemu.qmp) : undefined;
  let disks: SourceDisks | undefined;
  let throttle: ReturnType<typeof sourceThrottle>;
  try {
    disks = qemu ? await buildSourceDisks(plan.disks, options, qemu.qmp, logger) : undefined;
    throttle = sourceThrottle(plan, qemu, logs.stopper);
  } catch (error) {
    await disks?.close();
    await qemu?.close();
    throw error;
  }
  const commands = commandHooks(plan.hooks);
  const close = async (): Promise<void> => {
    await throttle.close();
    await disks?.close().catch((error: Error) => logger.warn({ err: error.message }, 'could not remove a disk view'));
    await qemu?.close();
  };
  return {
    hooks: qemu && plan.qemu ? qemuHooks(qemu, commands, plan.qemu.keepSource) : commands,
    throttle: throttle.throttle,
    options: disks?.options ?? options,
    dirtyTrackers: new Map([...logs.trackers, ...(disks?.dirtyTrackers ?? [])]),
    hashReasons: logs.hashReasons,
    journal: { stateDir: plan.stateDir, recovery: { ...recoveryRecipe(plan, disks?.diskDir) } },
    close,
  };
}

/** The guarded throttle of the plan's workload; one that cannot be throttled is a usage error naming its flag. */
function sourceThrottle(plan: MigratePlan, qemu: QemuSourceDriver | undefined, stopper: ProcessStopper | undefined): { throttle: ThrottleDriver | undefined; close: () => Promise<void> } {
  const wanted = plan.throttle;
  if (wanted === undefined) return { throttle: undefined, close: async () => {} };
  let target: ThrottleTarget;
  if (wanted.kind === 'qmp') {
    if (qemu === undefined) throw new Error('the --qmp throttle needs the QEMU connection');
    target = { kind: 'qmp', qmp: qemu.qmp, socket: wanted.socket };
  } else {
    target = wanted.kind === 'pid' ? { ...wanted, stopper } : wanted;
  }
  try {
    return guardedThrottle(target);
  } catch (error) {
    if (error instanceof ThrottleSetupError) throw new UsageError(`${wanted.kind === 'cgroup' ? '--cgroup' : '--throttle-pid'}: ${error.message}`);
    throw error;
  }
}
