import type { Logger } from 'pino';
import type { CommitContext, CommitHook } from '@ferry/agent-target';
import { runHook } from '@ferry/serve';

/** Environment for `--on-commit`: FERRY_DIR, FERRY_MIGRATION_ID, FERRY_IMAGE_<NAME>, FERRY_STATE_<NAME>. */
function commitEnvironment(context: CommitContext): Record<string, string> {
  const key = (name: string): string => name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  return {
    FERRY_DIR: context.dir,
    FERRY_MIGRATION_ID: context.migrationId,
    ...Object.fromEntries(Object.entries(context.images).map(([name, path]) => [`FERRY_IMAGE_${key(name)}`, path])),
    ...Object.fromEntries(Object.entries(context.blobs).map(([name, path]) => [`FERRY_STATE_${key(name)}`, path])),
  };
}

/**
 * QEMU first (it is the workload), then the user's command through the one hook runner: its exit status
 * decides RESUMED; one that runs past --hook-timeout is killed and counts as failed.
 */
export function buildCommitHook(onCommit: string | undefined, qemuTemplate: string | undefined, hookTimeoutMs: number, logger: Logger): CommitHook | undefined {
  if (!onCommit && !qemuTemplate) return undefined;
  return async (context) => {
    if (qemuTemplate) {
      const deviceState = context.blobs['qemu-state'];
      if (!deviceState) throw new Error('--qemu-cmd needs the qemu-state blob, but the source sent none (migrate with --qmp)');
      const { launchTargetQemu } = await import('@ferry/qemu');
      const qemu = await launchTargetQemu({ template: qemuTemplate, images: context.images, deviceStatePath: deviceState, workDir: context.dir, logger });
      logger.info({ pid: qemu.pid, qmp: qemu.qmpPath }, 'the guest runs on this host');
    }
    if (onCommit) await runHook({ name: '--on-commit', command: onCommit, env: commitEnvironment(context), timeoutMs: hookTimeoutMs, echo: true });
  };
}
