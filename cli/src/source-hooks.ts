import { join } from 'node:path';
import { commandHooks, type DirtyTracker, type MigrateOptions, type SourceHooks } from '@ferry/agent-source';
import { QemuSourceDriver, type QemuLogger } from '@ferry/qemu';
import type { MigrateArgs } from './migrate-options.js';
import { buildSourceDisks } from './source-disks.js';

export interface SourceSetup {
  readonly hooks: SourceHooks;
  /** The migrate options with the --disk images added. */
  readonly options: MigrateOptions;
  readonly dirtyTrackers: ReadonlyMap<string, DirtyTracker>;
  readonly close: () => Promise<void>;
}

/**
 * Builds the source's hooks from the command line: shell commands, a QEMU QMP socket, or both (QEMU
 * first on the way down, last on the way back up), and the dirty trackers of --disk images. The agent
 * only ever sees the SourceHooks and DirtyTracker seams.
 */
export async function buildSourceHooks(args: MigrateArgs, options: MigrateOptions, logger: QemuLogger): Promise<SourceSetup> {
  const commands = commandHooks({ pauseCmd: args['pause-cmd'], resumeCmd: args['resume-cmd'], stateCmd: args['state-cmd'] });
  if (!args.qmp) return { hooks: commands, options, dirtyTrackers: new Map(), close: async () => {} };
  const qemu = await QemuSourceDriver.connect(args.qmp);
  let disks;
  try {
    disks = await buildSourceDisks(args, options, qemu.qmp, logger);
  } catch (error) {
    await qemu.close();
    throw error;
  }
  const keepSource = args['keep-source'] === true;
  const hooks: SourceHooks = {
    async pause() {
      await qemu.pause();
      await commands.pause();
    },
    async resume() {
      await commands.resume();
      await qemu.resume();
    },
    async collectState(dir) {
      await qemu.saveDeviceState(join(dir, 'qemu-state'));
      return [{ name: 'qemu-state', path: join(dir, 'qemu-state') }, ...(await commands.collectState(dir)).filter((b) => b.name !== 'qemu-state')];
    },
    async committed() {
      await commands.committed();
      if (!keepSource) await qemu.quit();
    },
  };
  return { hooks, ...disks, close: () => qemu.close() };
}
