import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DirtyTracker, MigrateOptions, SourceHooks, ThrottleDriver } from '@ferry/agent-source';
import { QemuSourceDriver, type QemuLogger } from '@ferry/qemu';
import { prepareHook, runHook, type PreparedHook } from '@ferry/serve';
import type { MigrateArgs } from './migrate-options.js';
import { buildSourceDisks } from './source-disks.js';
import { buildDirtyLogs } from './dirty-logs.js';
import { buildThrottle } from './throttle/build.js';

export interface SourceHookCommands {
  readonly pauseCmd?: string | undefined;
  readonly resumeCmd?: string | undefined;
  readonly stateCmd?: string | undefined;
  readonly qmp?: string | undefined;
  readonly keepSource?: boolean | undefined;
  /** Every hook command is killed after this long (--hook-timeout). */
  readonly hookTimeoutMs: number;
}

/** Hooks that run shell commands through the one hook runner; a missing command is a no-op. */
export function commandHooks(options: SourceHookCommands): SourceHooks {
  const run = async (name: string, command: string | undefined, signal?: AbortSignal, env?: Record<string, string>): Promise<void> => {
    if (command) await runHook({ name, command, env, timeoutMs: options.hookTimeoutMs, signal });
  };
  // The pause hook's shell starts while the last pre-copy bytes drain: in the pause, only its command runs.
  let preparedPause: PreparedHook | undefined;
  return {
    preparePause() {
      if (options.pauseCmd && !preparedPause) preparedPause = prepareHook({ name: 'pause', command: options.pauseCmd, timeoutMs: options.hookTimeoutMs });
    },
    pause: (signal) => {
      const prepared = preparedPause;
      preparedPause = undefined;
      return prepared ? prepared.run(signal) : run('pause', options.pauseCmd, signal);
    },
    resume: () => {
      void preparedPause?.discard();
      preparedPause = undefined;
      return run('resume', options.resumeCmd);
    },
    committed: async () => {},
    async collectState(dir, signal) {
      if (!options.stateCmd) return [];
      await run('state', options.stateCmd, signal, { FERRY_STATE_DIR: dir });
      const entries = await readdir(dir, { withFileTypes: true });
      return entries.filter((e) => e.isFile()).map((e) => ({ name: e.name, path: join(dir, e.name) }));
    },
  };
}

export interface SourceSeams {
  readonly hooks: SourceHooks;
  readonly throttle: ThrottleDriver | undefined;
  /** The migrate options with the --disk images added. */
  readonly options: MigrateOptions;
  readonly dirtyTrackers: ReadonlyMap<string, DirtyTracker>;
  /** Why each image without a tracker is hash-scanned. */
  readonly hashReasons: ReadonlyMap<string, string>;
  /** The private folder of the --disk views and sockets (see SourceDisks), for the journal. */
  readonly diskDir: string | undefined;
  close(): Promise<void>;
}

/**
 * Builds the source's hooks from the command line: shell commands, a QEMU QMP socket, or both (QEMU
 * first on the way down, last on the way back up), and the throttle driver (--throttle, --cgroup,
 * --throttle-pid, or the --qmp guest), and the dirty trackers of the --disk images and (--dirty-log) of the
 * --image files a known process writes. The agent only ever
 * sees the SourceHooks, ThrottleDriver and DirtyTracker seams.
 */
export async function buildSourceHooks(options: SourceHookCommands, args: MigrateArgs, migrate: MigrateOptions, logger: QemuLogger): Promise<SourceSeams> {
  const commands = commandHooks(options);
  const logs = buildDirtyLogs(args, migrate, logger);
  if (!options.qmp) {
    const { throttle, close } = buildThrottle(args, undefined, logs.stopper);
    return { hooks: commands, throttle, options: migrate, dirtyTrackers: logs.trackers, hashReasons: logs.hashReasons, diskDir: undefined, close };
  }
  const qemu = await QemuSourceDriver.connect(options.qmp);
  let tracked;
  try {
    tracked = await buildSourceDisks(args.disk, migrate, qemu.qmp, logger);
  } catch (error) {
    await qemu.close();
    throw error;
  }
  const { throttle, close: closeThrottle } = buildThrottle(args, qemu, logs.stopper);
  const hooks: SourceHooks = {
    preparePause: () => commands.preparePause?.(),
    async pause(signal) {
      await qemu.pause();
      await commands.pause(signal);
    },
    async resume() {
      await commands.resume();
      await qemu.resume();
    },
    async collectState(dir, signal) {
      await qemu.saveDeviceState(join(dir, 'qemu-state'));
      return [{ name: 'qemu-state', path: join(dir, 'qemu-state') }, ...(await commands.collectState(dir, signal)).filter((b) => b.name !== 'qemu-state')];
    },
    async committed(signal) {
      await commands.committed(signal);
      if (!options.keepSource) await qemu.quit();
    },
  };
  const close = async (): Promise<void> => {
    await closeThrottle();
    await tracked.close().catch((error: Error) => logger.warn({ err: error.message }, 'could not remove a disk view'));
    await qemu.close();
  };
  const dirtyTrackers = new Map([...logs.trackers, ...tracked.dirtyTrackers]);
  return { hooks, throttle, options: tracked.options, dirtyTrackers, hashReasons: logs.hashReasons, diskDir: tracked.diskDir, close };
}

/** What `ferry recover` needs to resume the workload on the source: recorded in the migration's journal. */
export interface RecoveryRecipe {
  readonly resumeCmd?: string | undefined;
  readonly qmp?: string | undefined;
  /** --disk names: their dirty bitmaps and NBD exports on the QEMU at `qmp` go too. */
  readonly disks?: readonly string[] | undefined;
  /** The private folder of their FUSE views and NBD sockets: removed too, once recover has checked it is ferry's. */
  readonly diskDir?: string | undefined;
  readonly hookTimeoutMs: number;
}

export const recoveryRecipe = (options: SourceHookCommands, disks: readonly string[] = [], diskDir?: string): RecoveryRecipe => ({
  ...(options.resumeCmd ? { resumeCmd: options.resumeCmd } : {}),
  ...(options.qmp ? { qmp: options.qmp } : {}),
  ...(options.qmp && disks.length > 0 ? { disks } : {}),
  ...(options.qmp && diskDir !== undefined ? { diskDir } : {}),
  hookTimeoutMs: options.hookTimeoutMs,
});
