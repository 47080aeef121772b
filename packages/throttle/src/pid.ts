import { readFileSync } from 'node:fs';
import { ThrottleSetupError, type SharedStopper, type Throttle } from './driver.js';
import { DutyCycle } from './duty-cycle.js';
import { startTimeOf } from './proc-stat.js';
import type { UndoStep } from './undo.js';

/**
 * A process's throttle (--throttle-pid PID): a SIGSTOP/SIGCONT duty cycle of one process (QEMU's own way, for any process).
 * Its undo step continues the process, if it is still the one ferry throttled. With a `stopper` for the
 * same process (the soft-dirty log's), stops and continues go through it.
 */
export function pidThrottle(pid: number, stopper?: SharedStopper): { driver: Throttle; undo: UndoStep } {
  if (!Number.isInteger(pid) || pid <= 1) throw new ThrottleSetupError(`${pid} is not a process id above 1`);
  let startTime: string | undefined;
  try {
    process.kill(pid, 0);
    startTime = startTimeOf(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch (error) {
    throw new ThrottleSetupError(`pid ${pid}: no such process we may signal (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  if (startTime === undefined) throw new ThrottleSetupError(`pid ${pid}: /proc/${pid}/stat does not say when it started`);
  // Shared with the soft-dirty log when it watches the same process: the process continues only when neither holds it.
  const cycle = new DutyCycle(stopper?.pid === pid ? { stop: () => stopper.stop(), cont: () => stopper.cont() } : {
    stop: () => { process.kill(pid, 'SIGSTOP'); },
    cont: () => { process.kill(pid, 'SIGCONT'); },
  });
  const driver: Throttle = {
    name: `pid ${pid}`,
    async set(level) {
      await cycle.set(level);
      if (cycle.failure) throw cycle.failure;
    },
    restore: () => cycle.restore(),
    hold: () => cycle.hold(),
  };
  return { driver, undo: { kind: 'sigcont', pid, startTime } };
}
