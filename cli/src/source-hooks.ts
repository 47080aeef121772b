import { join } from 'node:path';
import { commandHooks, type SourceHooks } from '@ferry/agent-source';
import { QemuSourceDriver } from '@ferry/qemu';
import type { MigrateArgs } from './migrate-options.js';

/**
 * Builds the source's hooks from the command line: shell commands, a QEMU QMP socket, or both (QEMU
 * first on the way down, last on the way back up). The agent only ever sees the SourceHooks seam.
 */
export async function buildSourceHooks(args: MigrateArgs): Promise<{ hooks: SourceHooks; close: () => Promise<void> }> {
  const commands = commandHooks({ pauseCmd: args['pause-cmd'], resumeCmd: args['resume-cmd'], stateCmd: args['state-cmd'] });
  if (!args.qmp) return { hooks: commands, close: async () => {} };
  const qemu = await QemuSourceDriver.connect(args.qmp);
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
  return { hooks, close: () => qemu.close() };
}
