import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, FerryError } from '@ferry/protocol';

/** A state blob to send: read from `path` and stored on the target as state/<name>. */
export interface StateBlob {
  readonly name: string;
  readonly path: string;
}

/**
 * The seams through which the source drives the workload. The CLI builds them from --pause-cmd and
 * friends, or from a QEMU QMP socket; the migration itself never knows which.
 */
export interface SourceHooks {
  /** Stop the workload so that its image stops changing. */
  pause(): Promise<void>;
  /** Rollback: let the workload run again on the source. Must be safe to call when it never paused. */
  resume(): Promise<void>;
  /** After the pause: produce state blobs (device state...) in `dir`, a fresh empty directory. */
  collectState(dir: string): Promise<StateBlob[]>;
  /** After RESUMED: the workload now runs on the target (e.g. QEMU `quit` on the source). */
  committed(): Promise<void>;
}

export interface CommandHookOptions {
  readonly pauseCmd?: string | undefined;
  readonly resumeCmd?: string | undefined;
  readonly stateCmd?: string | undefined;
  readonly committedCmd?: string | undefined;
  readonly timeoutMs?: number;
}

/** Hooks that run shell commands; a missing command is a no-op. */
export function commandHooks(options: CommandHookOptions): SourceHooks {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return {
    pause: () => runHookCommand('pause', options.pauseCmd, {}, timeoutMs),
    resume: () => runHookCommand('resume', options.resumeCmd, {}, timeoutMs),
    committed: () => runHookCommand('committed', options.committedCmd, {}, timeoutMs),
    async collectState(dir) {
      if (!options.stateCmd) return [];
      await runHookCommand('state', options.stateCmd, { FERRY_STATE_DIR: dir }, timeoutMs);
      const entries = await readdir(dir, { withFileTypes: true });
      return entries.filter((e) => e.isFile()).map((e) => ({ name: e.name, path: join(dir, e.name) }));
    },
  };
}

/** Runs `command` through /bin/sh; rejects with the exit status and the tail of stderr. */
export function runHookCommand(
  hook: string,
  command: string | undefined,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<void> {
  if (!command) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-2000);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new FerryError(ErrorCode.Hook, `${hook} hook "${command}" did not finish within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new FerryError(ErrorCode.Hook, `${hook} hook "${command}" could not start: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else {
        const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
        reject(new FerryError(ErrorCode.Hook, `${hook} hook "${command}" ${how}${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
      }
    });
  });
}
