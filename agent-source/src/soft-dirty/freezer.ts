/**
 * Holds one process still with SIGSTOP/SIGCONT. Every user of the process's stop and continue (the
 * soft-dirty log's freeze, a --throttle-pid duty cycle) goes through one ProcessStopper, which counts:
 * the process continues only when the last user lets go, so a duty cycle's SIGCONT can never land
 * inside a freeze. SIGSTOP is asynchronous (kill() returns before the threads stop), so `freeze` waits
 * until every thread of the process reports itself stopped.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { isStoppedState, parseStat } from './proc.js';

/** How long a freeze waits for every thread to stop (a thread in uninterruptible I/O stops late). */
export const STOP_WAIT_MS = 5000;

export class ProcessStopper {
  readonly pid: number;
  #holders = 0;

  constructor(pid: number) {
    this.pid = pid;
  }

  /** One more user wants the process stopped; the first one sends SIGSTOP. */
  stop(): void {
    if (this.#holders++ === 0) process.kill(this.pid, 'SIGSTOP');
  }

  /** A user lets go; the last one sends SIGCONT. */
  cont(): void {
    if (this.#holders === 0) return;
    if (--this.#holders === 0) process.kill(this.pid, 'SIGCONT');
  }

  /** True while a user holds the process stopped. */
  get held(): boolean {
    return this.#holders > 0;
  }

  /**
   * Stops the process and resolves once every thread is stopped; rejects (after letting go) when that
   * takes longer than `waitMs` or the process is gone.
   */
  async freeze(waitMs = STOP_WAIT_MS): Promise<void> {
    this.stop();
    const deadline = performance.now() + waitMs;
    try {
      while (!allThreadsStopped(this.pid)) {
        if (performance.now() > deadline) throw new Error(`pid ${this.pid} did not stop within ${waitMs} ms of SIGSTOP`);
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      this.cont();
      throw error;
    }
  }
}

/** Every thread of `pid` is stopped (or exiting). Throws when the process is gone. */
export function allThreadsStopped(pid: number): boolean {
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
    } catch {
      continue; // the thread exited meanwhile
    }
    const state = parseStat(text)?.state;
    if (state === undefined || !isStoppedState(state)) return false;
  }
  return true;
}
