import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import type { CommitContext, CommitHook } from '@ferry/agent-target';

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

/** Runs a shell command; a non-zero exit fails the commit with the end of its stderr in the message. */
function runCommitCommand(command: string, context: CommitContext): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...commitEnvironment(context) }, stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderr = (stderr + chunk.toString('utf8')).slice(-2000);
    });
    child.once('error', (error) => reject(new Error(`--on-commit could not start: ${error.message}`)));
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`--on-commit "${command}" failed (${signal ?? `exit ${code}`})${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`));
    });
  });
}

/** QEMU first (it is the workload), then the user's command. */
export function buildCommitHook(onCommit: string | undefined, qemuTemplate: string | undefined, logger: Logger): CommitHook | undefined {
  if (!onCommit && !qemuTemplate) return undefined;
  return async (context) => {
    if (qemuTemplate) {
      const deviceState = context.blobs['qemu-state'];
      if (!deviceState) throw new Error('--qemu-cmd needs the qemu-state blob, but the source sent none (migrate with --qmp)');
      const { launchTargetQemu } = await import('@ferry/qemu');
      const qemu = await launchTargetQemu({ template: qemuTemplate, images: context.images, deviceStatePath: deviceState, workDir: context.dir, logger });
      logger.info({ pid: qemu.pid, qmp: qemu.qmpPath }, 'the guest runs on this host');
    }
    if (onCommit) await runCommitCommand(onCommit, context);
  };
}
