import { join } from 'node:path';
import { commandHooks, type SourceHooks, type ThrottleDriver } from '@ferry/agent-source';
import { QemuSourceDriver } from '@ferry/qemu';
import type { MigrateArgs } from './migrate-options.js';
import { buildThrottle } from './throttle/build.js';

export interface SourceSeams {
  readonly hooks: SourceHooks;
  readonly throttle: ThrottleDriver | undefined;
  close(): Promise<void>;
}

/**
 * Builds the source's hooks from the command line: shell commands, a QEMU QMP socket, or both (QEMU
 * first on the way down, last on the way back up), and the throttle driver. The agent only ever sees
 * the SourceHooks and ThrottleDriver seams.
 */
export async function buildSourceHooks(args: MigrateArgs): Promise<SourceSeams> {
  const commands = commandHooks({ pauseCmd: args['pause-cmd'], resumeCmd: args['resume-cmd'], stateCmd: args['state-cmd'] });
  if (!args.qmp) {
    const { throttle, close } = buildThrottle(args, undefined);
    return { hooks: commands, throttle, close };
  }
  const qemu = await QemuSourceDriver.connect(args.qmp);
  const { throttle, close: closeThrottle } = buildThrottle(args, qemu.qmp);
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
  return { hooks, throttle, close: async () => { await closeThrottle(); await qemu.close(); } };
}
