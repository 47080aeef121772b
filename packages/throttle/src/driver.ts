/**
 * What this package's drivers are, said in its own words. The source agent owns the seam they plug into
 * (its ThrottleDriver) and packages do not import agents, so the drivers match it structurally: the
 * compiler checks the fit where the CLI hands a driver to the agent.
 */
export interface Throttle {
  /** What it throttles, for logs: "qmp", "cgroup /sys/fs/cgroup/job", "pid 1234". */
  readonly name: string;
  /** Takes `level`% (0-99) of the workload's time away; 0 is full speed. */
  set(level: number): Promise<void>;
  /** Stops throttling without continuing the workload, right before the pause hook stops it. */
  hold(): Promise<void>;
  /** Full speed again; safe to call at any time, any number of times. */
  restore(): Promise<void>;
}

/**
 * A hold on a process's SIGSTOP/SIGCONT that others share (the soft-dirty log's ProcessStopper): the
 * process continues only when no holder keeps it stopped.
 */
export interface SharedStopper {
  readonly pid: number;
  stop(): void;
  cont(): void;
}

/** The workload a throttle was asked for cannot be throttled (no such process, no cgroup CPU limit). */
export class ThrottleSetupError extends Error {
  override readonly name = 'ThrottleSetupError';
}
