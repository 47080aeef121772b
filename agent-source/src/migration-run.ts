import type { Logger } from 'pino';
import { toFerryError } from '@ferry/protocol';
import { DirtyTracking } from './dirty-tracking.js';
import type { DescribedImage } from './images.js';
import type { MigrationJournal } from './journal.js';
import type { DirtyTracker } from './dirty-tracking.js';
import type { SourceHooks } from './hooks.js';
import type { ThrottleDriver } from './throttle-driver.js';
import type { MigrateOptions } from './options.js';
import { INITIAL_PHASE, isWorkloadPaused, step, type Phase, type PhaseEvent } from './phases.js';
import { Convergence } from './convergence.js';
import { POLICIES, type PassRecord } from './policies.js';
import { SendMeter } from './send-meter.js';
import { withDeadline } from './abort.js';
import type { DiskSummary, SourceEvent } from './events.js';
import type { PassSender } from './pass-sender.js';
import type { PauseStep, PauseStepName } from '@ferry/serve';
import { buildPauseTimeline, type PauseMark } from './pause-timeline.js';

export interface MigrateContext {
  readonly logger: Logger;
  readonly hooks: SourceHooks;
  readonly onEvent?: ((event: SourceEvent) => void) | undefined;
  /** Aborting it (Ctrl-C) cancels the migration: before GO that is a rollback. */
  readonly signal?: AbortSignal | undefined;
  /** Where to journal the phases for `ferry recover` (and collect state blobs), and how to resume the workload then. */
  readonly journal?: { readonly stateDir: string; readonly recovery: Readonly<Record<string, unknown>> } | undefined;
  /** Images (by name) whose dirty pages a tracker reports instead of a full hash scan (guest disks, soft-dirty memory). */
  readonly dirtyTrackers?: ReadonlyMap<string, DirtyTracker> | undefined;
  /** Why each image without a tracker is hash-scanned, for the summary (e.g. the kernel keeps no soft-dirty bits). */
  readonly hashReasons?: ReadonlyMap<string, string> | undefined;
  /** Slows the workload when pre-copy does not converge (--throttle auto). */
  readonly throttle?: ThrottleDriver | undefined;
}

/**
 * When the workload was paused and when it ran again (on the target, or here after a rollback), and the
 * marks the transfer sets on the way, which cut the pause into its parts (pause-timeline.ts).
 */
export class PauseClock {
  #pausedAt: number | undefined;
  #unpausedAt: number | undefined;
  readonly #marks: PauseMark[] = [];

  get paused(): boolean {
    return this.#pausedAt !== undefined;
  }

  pause(): void {
    this.#pausedAt = performance.now();
  }

  /** Only a pause that happened ends. */
  unpause(): void {
    if (this.#pausedAt !== undefined) this.#unpausedAt = performance.now();
  }

  /** `step` of the pause ended `at` (now by default); `parts` are durations the target measured inside it. */
  mark(step: PauseStepName, at = performance.now(), parts?: PauseMark['parts']): void {
    if (this.#pausedAt === undefined || this.#unpausedAt !== undefined) return;
    this.#marks.push(parts ? { step, at, parts } : { step, at });
  }

  /** From the pause hook to RESUMED, or to the end of the rollback; still counting while the source stays paused. */
  get ms(): number {
    return this.#pausedAt === undefined ? 0 : (this.#unpausedAt ?? performance.now()) - this.#pausedAt;
  }

  /** The pause cut into its parts, summing to `ms`; undefined when the workload never paused. */
  timeline(): PauseStep[] | undefined {
    if (this.#pausedAt === undefined) return undefined;
    return buildPauseTimeline(this.#pausedAt, this.#unpausedAt ?? performance.now(), this.#marks);
  }
}

/**
 * What a migration keeps from its first phase to its last, whether connecting or connected: the phase
 * (journaled as it moves), the byte meter, the pass history, dirty tracking, convergence and the clock
 * of the pause. `Migration` connects and ends the run; `Transfer` owns the connection in between.
 */
export class MigrationRun {
  readonly options: MigrateOptions;
  readonly context: MigrateContext;
  readonly log: Logger;
  readonly images: readonly DescribedImage[];
  readonly journal: MigrationJournal | undefined;
  readonly imageBytes: number;
  readonly pageCount: number;
  readonly meter = new SendMeter();
  readonly history: PassRecord[] = [];
  readonly pause = new PauseClock();
  /** Aborted by the user (Ctrl-C) or by --timeout cancel: every hook, pass and wait stops. */
  readonly cancel = new AbortController();
  readonly tracking: DirtyTracking;
  readonly convergence: Convergence;
  /** Set by --timeout with --on-timeout force: the next stop decision pauses, giving this reason. */
  forceStop: string | undefined;
  #phase: Phase = INITIAL_PHASE;
  /** The bytes sent when the running pre-copy pass began; undefined outside pre-copy passes. */
  #precopyPassFrom: number | undefined;

  constructor(options: MigrateOptions, context: MigrateContext, images: readonly DescribedImage[], journal: MigrationJournal | undefined) {
    this.options = options;
    this.context = context;
    this.images = images;
    this.journal = journal;
    this.imageBytes = images.reduce((sum, i) => sum + i.size, 0);
    this.pageCount = images.reduce((sum, i) => sum + i.size / i.pageSize, 0);
    this.log = context.logger.child({ migrationId: options.migrationId, role: 'source' });
    this.tracking = new DirtyTracking(images.map((image) => context.dirtyTrackers?.get(image.name)), (error) =>
      this.log.warn({ err: toFerryError(error) }, 'could not release a dirty-tracking generation; it goes at the end'));
    this.convergence = new Convergence({
      policy: POLICIES[options.policy],
      context: { imageBytes: this.imageBytes, maxDowntimeMs: options.maxDowntimeMs },
      pageSize: options.pageSize,
      mode: options.throttle,
      driver: context.throttle,
      log: this.log,
      emit: (event) => this.emit(event),
      passBytes: () => (this.#precopyPassFrom === undefined ? undefined : this.meter.bytes - this.#precopyPassFrom),
    });
  }

  get phase(): Phase {
    return this.#phase;
  }

  emit(event: SourceEvent): void {
    this.context.onEvent?.(event);
  }

  /** Moves the phase on (phases.ts decides where to) and journals it for `ferry recover`. */
  advance(event: PhaseEvent): void {
    const before = this.#phase.name;
    this.#phase = step(this.#phase, event);
    if (this.#phase.name === before) return;
    this.log.debug({ from: before, to: this.#phase.name }, 'phase');
    try {
      this.journal?.record(this.#phase);
    } catch (error) {
      this.log.warn({ err: error }, 'could not write the migration journal; ferry recover will not know this migration');
    }
  }

  /** Runs one phase's I/O; a phase in which the workload is paused runs under a deadline that rolls back (--paused-timeout). */
  runPhase(phase: Phase, io: (signal: AbortSignal) => Promise<void>): Promise<void> {
    if (!isWorkloadPaused(phase)) return io(this.cancel.signal);
    const seconds = Math.round(this.options.pausedTimeoutMs / 1000);
    const deadline = withDeadline(this.cancel.signal, this.options.pausedTimeoutMs, () =>
      `the ${phase.name} phase did not finish within ${seconds} s while the workload was paused (--paused-timeout); rolling back`);
    return io(deadline.signal).finally(deadline.done);
  }

  /** Brackets a pre-copy pass, so that convergence can see how far the running pass got. */
  async precopyPass<T>(send: () => Promise<T>): Promise<T> {
    this.#precopyPassFrom = this.meter.bytes;
    try {
      return await send();
    } finally {
      this.#precopyPassFrom = undefined;
    }
  }

  /** The running pass's progress; undefined outside the passes. */
  progress(sender: PassSender, bytesReceived: number, passStartedAt: number): SourceEvent | undefined {
    const phase = this.#phase;
    if (phase.name !== 'precopy' && phase.name !== 'final-pass') return undefined;
    const fraction = this.pageCount > 0 ? Math.min(1, sender.passScanned / this.pageCount) : 0;
    return {
      event: 'progress',
      pass: phase.pass,
      bytesSent: this.meter.bytes,
      pagesSent: sender.totals.pagesSent,
      bytesReceived,
      rate: this.history.at(-1)?.bandwidth ?? 0,
      imageBytes: this.imageBytes,
      passFraction: fraction,
      ...(this.tracking.trackedImages('disks').length > 0 ? { diskBytesSent: Object.values(this.diskSummaries(sender)).reduce((sum, d) => sum + d.bytesSent, 0) } : {}),
      // The running pass's end, extrapolated from how far its scan got.
      ...(fraction > 0.02 && fraction < 1 ? { passEtaMs: Math.round(((performance.now() - passStartedAt) * (1 - fraction)) / fraction) } : {}),
      ...this.convergence.fields(),
    };
  }

  /** Bytes and passes of each guest disk a dirty tracker follows (no bytes before a sender existed). */
  diskSummaries(sender: PassSender | undefined): Record<string, DiskSummary> {
    const disks: Record<string, DiskSummary> = {};
    const passes = this.tracking.passesRead();
    const diskImages = new Set(this.tracking.trackedImages('disks'));
    this.images.forEach((image, index) => {
      const read = passes[index];
      if (read !== undefined && diskImages.has(index)) disks[image.name] = { bytesSent: sender?.imageBytesSent[index] ?? 0, passes: read };
    });
    return disks;
  }
}
