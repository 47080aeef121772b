import type { ThrottleDriver } from '@ferry/agent-source';

/** A throttle driver as the CLI holds it: with a synchronous last resort for when ferry itself exits. */
export interface CliThrottleDriver extends ThrottleDriver {
  /**
   * Best effort, synchronous, for process.on('exit'): undo what the throttle itself did (continue a
   * workload the duty cycle holds stopped, put cpu.max back). Never continues a workload paused by the
   * migration's pause hook: after a commit it must stay stopped.
   */
  restoreNow(): void;
}
