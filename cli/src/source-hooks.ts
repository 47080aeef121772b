import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourceHooks } from '@ferry/agent-source';
import type { QemuSourceDriver } from '@ferry/qemu';
import { prepareHook, runHook, type PreparedHook } from '@ferry/serve';
import type { MigratePlan } from './migrate-plan.js';

/** Hooks that run shell commands through the one hook runner; a missing command is a no-op. */
export function commandHooks(commands: MigratePlan['hooks']): SourceHooks {
  const run = async (name: string, command: string | undefined, signal?: AbortSignal, env?: Record<string, string>): Promise<void> => {
    if (command) await runHook({ name, command, env, timeoutMs: commands.timeoutMs, signal });
  };
  // The pause hook's shell starts while the last pre-copy bytes drain: in the pause, only its command runs.
  let preparedPause: PreparedHook | undefined;
  return {
    preparePause() {
      if (commands.pauseCmd && !preparedPause) preparedPause = prepareHook({ name: 'pause', command: commands.pauseCmd, timeoutMs: commands.timeoutMs });
    },
    pause: (signal) => {
      const prepared = preparedPause;
      preparedPause = undefined;
      return prepared ? prepared.run(signal) : run('pause', commands.pauseCmd, signal);
    },
    resume: () => {
      void preparedPause?.discard();
      preparedPause = undefined;
      return run('resume', commands.resumeCmd);
    },
    committed: async () => {},
    async collectState(dir, signal) {
      if (!commands.stateCmd) return [];
      await run('state', commands.stateCmd, signal, { FERRY_STATE_DIR: dir });
      const entries = await readdir(dir, { withFileTypes: true });
      return entries.filter((e) => e.isFile()).map((e) => ({ name: e.name, path: join(dir, e.name) }));
    },
  };
}

/**
 * A QEMU guest's hooks around the command hooks: QEMU first on the way down, last on the way back up;
 * its device state is the `qemu-state` blob; after the commit QEMU quits unless `keepSource`.
 */
export function qemuHooks(qemu: QemuSourceDriver, commands: SourceHooks, keepSource: boolean): SourceHooks {
  return {
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
      if (!keepSource) await qemu.quit();
    },
  };
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

export const recoveryRecipe = (plan: MigratePlan, diskDir: string | undefined): RecoveryRecipe => ({
  ...(plan.hooks.resumeCmd ? { resumeCmd: plan.hooks.resumeCmd } : {}),
  ...(plan.qemu ? { qmp: plan.qemu.qmp } : {}),
  ...(plan.qemu && plan.disks.length > 0 ? { disks: plan.disks.map((d) => d.name) } : {}),
  ...(plan.qemu && diskDir !== undefined ? { diskDir } : {}),
  hookTimeoutMs: plan.hooks.timeoutMs,
});
