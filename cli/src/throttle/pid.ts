import { DutyCycle } from '@ferry/qemu';
import { UsageError } from '../usage.js';
import type { CliThrottleDriver } from './driver.js';

/** --throttle-pid PID: a SIGSTOP/SIGCONT duty cycle of one process (QEMU's own way, for any process). */
export function pidThrottle(text: string): CliThrottleDriver {
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 1) throw new UsageError(`--throttle-pid ${text} must be a process id above 1`);
  try {
    process.kill(pid, 0);
  } catch (error) {
    throw new UsageError(`--throttle-pid ${pid}: no such process we may signal (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const cycle = new DutyCycle({
    stop: () => { process.kill(pid, 'SIGSTOP'); },
    cont: () => { process.kill(pid, 'SIGCONT'); },
  });
  return {
    name: `pid ${pid}`,
    async set(level) {
      await cycle.set(level);
      if (cycle.failure) throw cycle.failure;
    },
    restore: () => cycle.restore(),
    hold: () => cycle.hold(),
    restoreNow() {
      if (!cycle.stopped) return;
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // the process is gone
      }
    },
  };
}
