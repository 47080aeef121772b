/**
 * A duty cycle: stop the workload for `level`% of every period and let it run for the rest, which is how
 * QEMU's auto-converge throttles vCPUs (cpu_throttle_set sleeps them for a share of a 10 ms timeslice).
 * Here the stop and continue actions are whatever the caller gives (QMP stop/cont, SIGSTOP/SIGCONT), so
 * periods are longer (100 ms) to keep the action's own cost small.
 *
 * restore() ends the cycle at once (a sleeping phase is cut short) and leaves the workload continued.
 * hold() ends it where it is, stopped or running, for the pause hook to take over: continuing the
 * workload just before the pause would let it dirty at full speed into the final pass. `stopped` says
 * whether this cycle holds the workload stopped right now (after a hold it no longer claims the stop:
 * the workload is stopped on purpose). If ferry dies mid-cycle, the guardian process (guardian.ts)
 * continues the workload.
 */
export interface DutyCycleActions {
  stop(): Promise<void> | void;
  cont(): Promise<void> | void;
}

export const DUTY_PERIOD_MS = 100;

export class DutyCycle {
  readonly #actions: DutyCycleActions;
  readonly #periodMs: number;
  #level = 0;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #stopped = false;
  #holding = false;
  /** The first error of a stop or continue action; the cycle ends on it (the workload is continued). */
  failure: Error | undefined;

  constructor(actions: DutyCycleActions, periodMs = DUTY_PERIOD_MS) {
    this.#actions = actions;
    this.#periodMs = periodMs;
  }

  get level(): number {
    return this.#level;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Takes `level`% (0-99) of the workload's time; 0 ends the cycle and continues the workload. */
  async set(level: number): Promise<void> {
    this.#level = Math.max(0, Math.min(99, Math.round(level)));
    if (this.#level === 0) return this.restore();
    if (this.failure === undefined && !this.#holding) this.#loop ??= this.#run();
  }

  async restore(): Promise<void> {
    this.#level = 0;
    this.#wake?.();
    await this.#loop;
  }

  /** Ends the cycle without continuing the workload; it stays stopped if it was. The cycle never starts again. */
  async hold(): Promise<void> {
    this.#holding = true;
    await this.restore();
  }

  async #run(): Promise<void> {
    try {
      while (this.#level > 0) {
        const offMs = (this.#periodMs * this.#level) / 100;
        this.#stopped = true;
        await this.#actions.stop();
        await this.#sleep(offMs);
        if (this.#holding) break;
        await this.#actions.cont();
        this.#stopped = false;
        await this.#sleep(this.#periodMs - offMs);
      }
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      this.#level = 0;
    } finally {
      if (this.#stopped && !this.#holding) await Promise.resolve(this.#actions.cont()).catch(() => undefined);
      this.#stopped = false;
      this.#loop = undefined;
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#level === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
