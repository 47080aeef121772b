/**
 * The seam through which the source slows the workload while pre-copy runs. The CLI builds one from
 * --qmp (QEMU stop/cont duty cycle), --cgroup (cgroup v2 cpu.max) or --throttle-pid (SIGSTOP/SIGCONT duty
 * cycle); the migration only ever sees levels.
 */
export interface ThrottleDriver {
  /** What it throttles, for logs: "qmp", "cgroup /sys/fs/cgroup/job", "pid 1234". */
  readonly name: string;
  /** Takes `level`% (0-99) of the workload's time away; 0 is full speed. */
  set(level: number): Promise<void>;
  /**
   * Right before the pause hook: stop throttling without continuing the workload (the pause hook stops
   * it next; continuing it first would let it dirty at full speed into the final pass). Limits that do
   * not stop it (cpu.max) may stay until restore().
   */
  hold(): Promise<void>;
  /** Full speed again: what the throttle itself did is undone; safe to call at any time, any number of times. */
  restore(): Promise<void>;
  /**
   * Hears what would undo the throttle right now (records only the CLI reads back, in `ferry recover`),
   * each time that changes, so the migration's journal can keep it in case ferry is killed.
   */
  onUndoChange?(listener: (undo: readonly Readonly<Record<string, unknown>>[]) => void): void;
}
