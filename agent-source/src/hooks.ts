/** A state blob to send: read from `path` and stored on the target as state/<name>. */
export interface StateBlob {
  readonly name: string;
  readonly path: string;
}

/**
 * The seams through which the source drives the workload. The CLI builds them from --pause-cmd and
 * friends, or from a QEMU QMP socket; the migration itself never knows which. A hook given a signal must
 * stop when it aborts and settle only once it has stopped (the rollback that follows relies on it).
 */
export interface SourceHooks {
  /**
   * The pause may come after any pass from now on (called as pass 1 begins, and again just before the
   * pause; the second call finds it done): whatever the pause hook can do ahead of time without touching
   * the workload (start its process) happens now, off the pause. A rollback's `resume` undoes it.
   */
  preparePause?(): void;
  /** Stop the workload so that its image stops changing. */
  pause(signal: AbortSignal): Promise<void>;
  /** Rollback: let the workload run again on the source. Must be safe to call when it never paused. */
  resume(): Promise<void>;
  /**
   * After the pause, once the final pass has read every tracked image (maybe while it still scans others):
   * produce state blobs (device state...) in `dir`, a fresh empty directory.
   */
  collectState(dir: string, signal: AbortSignal): Promise<StateBlob[]>;
  /** After RESUMED: the workload now runs on the target (e.g. QEMU `quit` on the source). */
  committed(signal: AbortSignal): Promise<void>;
}
