import type { Logger } from 'pino';
import type { CommitContext, CommitHook, Prelauncher } from '@ferry/agent-target';
import { variableOf } from '@ferry/protocol';
import { runHook } from '@ferry/serve';

/**
 * Environment for `--on-commit`: FERRY_DIR, FERRY_MIGRATION_ID, FERRY_IMAGE_<NAME>, FERRY_STATE_<NAME>.
 * The protocol's variableOf names them; the target refused names whose variables would collide, so
 * each variable holds the path of exactly one file.
 */
function commitEnvironment(context: CommitContext): Record<string, string> {
  return {
    FERRY_DIR: context.dir,
    FERRY_MIGRATION_ID: context.migrationId,
    ...Object.fromEntries(Object.entries(context.images).map(([name, path]) => [`FERRY_IMAGE_${variableOf(name)}`, path])),
    ...Object.fromEntries(Object.entries(context.blobs).map(([name, path]) => [`FERRY_STATE_${variableOf(name)}`, path])),
  };
}

/**
 * The target's commit seams from its flags. `--qemu-cmd` prelaunches: QEMU starts during pre-copy
 * (on the images' final paths, `-incoming defer`) and, after GO, loads the `qemu-state` blob and
 * resumes. `--on-commit` runs after that through the one hook runner: its exit status decides RESUMED;
 * one that runs past --hook-timeout is killed and counts as failed.
 */
export function buildCommitHooks(onCommit: string | undefined, qemuTemplate: string | undefined, hookTimeoutMs: number, logger: Logger): {
  commitHook: CommitHook | undefined;
  prelaunch: Prelauncher | undefined;
} {
  const commitHook: CommitHook | undefined = onCommit
    ? (context) => runHook({ name: '--on-commit', command: onCommit, env: commitEnvironment(context), timeoutMs: hookTimeoutMs, echo: true })
    : undefined;
  return { commitHook, prelaunch: qemuTemplate ? qemuPrelauncher(qemuTemplate, logger) : undefined };
}

function qemuPrelauncher(template: string, logger: Logger): Prelauncher {
  return async (context) => {
    const { startTargetQemu } = await import('@ferry/qemu');
    const qemu = await startTargetQemu({ template, images: context.images, workDir: context.dir, logger });
    return {
      async resume(committed) {
        const deviceState = committed.blobs['qemu-state'];
        if (!deviceState) {
          await qemu.kill();
          throw new Error('--qemu-cmd needs the qemu-state blob, but the source sent none (migrate with --qmp)');
        }
        const launched = await qemu.load(deviceState);
        logger.info({ pid: launched.pid, qmp: launched.qmpPath }, 'the guest runs on this host');
      },
      cancel: () => qemu.kill(),
    };
  };
}
