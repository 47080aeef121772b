import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ErrorCode, FerryError, MessageType, toFerryError, type Hello } from '@ferry/protocol';
import { createPageHasher, type ScanPool, type PageHasher } from '@ferry/pages';
import { abortable, delay, withDeadline } from './abort.js';
import { checkImagesUnchanged, checkStateFiles, describeImages, type DescribedImage } from './images.js';
import { TargetConnection, type ConnectOptions } from './connection.js';
import { SendMeter } from './send-meter.js';
import { greet, handshake, retryUntil } from './resume.js';
import { summarize, type DiskSummary, type MigrationSummary, type ProgressEvent } from './events.js';
import { DirtyTracking, type DirtyTracker } from './dirty-tracking.js';
import type { SourceHooks } from './hooks.js';
import { MigrationJournal } from './journal.js';
import type { MigrateOptions } from './options.js';
import { PassSender, type AfterImages, type PassOutcome, type PassScope } from './pass-sender.js';
import { assertNever, INITIAL_PHASE, isFinished, isWorkloadPaused, step, type Phase, type PhaseEvent } from './phases.js';
import { Convergence } from './convergence.js';
import { POLICIES, type PassRecord, type StopDecision } from './policies.js';
import type { ThrottleDriver } from './throttle-driver.js';
import { RateLimiter } from './rate-limiter.js';
import { connectOptionsFor, helloFor, startPools } from './setup.js';
import { sendStateBlobs } from './state-blobs.js';
import { verifyImages } from './verify.js';

export interface MigrateContext {
  readonly logger: Logger;
  readonly hooks: SourceHooks;
  readonly onEvent?: ((event: ProgressEvent) => void) | undefined;
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

const PROGRESS_INTERVAL_MS = 250;
/** Below this link rate (bytes/s) LZ4 (several hundred MB/s per worker) shortens a paused pass. */
const COMPRESS_PAUSED_BELOW = 100e6;

const rate = (bytes: number, ms: number): number => (ms > 0 ? (bytes * 1000) / ms : 0);

/** Runs one migration to its end: committed, rolled back (source resumed) or unknown (after GO). */
export async function migrate(options: MigrateOptions, context: MigrateContext): Promise<MigrationSummary> {
  const images = describeImages(options);
  checkStateFiles(options.stateFiles);
  const journal = context.journal && MigrationJournal.open(context.journal.stateDir, options.migrationId, options.url, context.journal.recovery);
  // Throttle crash safety: the journal keeps what would undo the throttle, for `ferry recover`.
  context.throttle?.onUndoChange?.((undo) => {
    try {
      journal?.recordThrottle(undo);
    } catch (error) {
      context.logger.warn({ err: error }, 'could not journal the throttle; ferry recover will not know it');
    }
  });
  const run = new SourceMigration(options, context, images, journal);
  return run.run();
}

/**
 * The source's orchestrator (over 300 lines because it is one method per phase, each a few lines of I/O;
 * splitting it would scatter the state the phases share). The pure phases (phases.ts) drive it: `run` asks the current phase what to
 * do, one method per phase does that I/O and reports the event that moves the phase on. Cancellation is
 * one AbortSignal handed to every hook, pass and wait; each settles only once its work has stopped, so
 * the rollback that follows never races a hook or a pass still running.
 */
class SourceMigration {
  readonly #options: MigrateOptions;
  readonly #context: MigrateContext;
  readonly #log: Logger;
  readonly #images: readonly DescribedImage[];
  readonly #journal: MigrationJournal | undefined;
  readonly #imageBytes: number;
  readonly #pageCount: number;
  readonly #cancel = new AbortController();
  readonly #meter = new SendMeter();
  readonly #history: PassRecord[] = [];
  readonly #pools: ScanPool[] = [];
  #phase: Phase = INITIAL_PHASE;
  #connection: TargetConnection | undefined;
  #sender: PassSender | undefined;
  #hasher: PageHasher | undefined;
  #passStartedAt = 0;
  #nextPass = 0;
  #forceStop: string | undefined;
  #stopReason: string | undefined;
  #bytesReceived = 0;
  /** Proof for a resume that this is the source the target welcomed (from WELCOME). */
  #sessionSecret: string | undefined;
  #pausedAt: number | undefined;
  #unpausedAt: number | undefined;
  readonly #tracking: DirtyTracking;
  readonly #convergence: Convergence;
  /** The state hook's run and the sending of its blobs, started during the final pass (#startStateCollection). */
  #stateCollection: Promise<void> | undefined;
  /** Stops the state hook: on a rollback (it may outlive the phase that started it), or with the migration. */
  readonly #stateAbort = new AbortController();
  /** The bytes sent when the running pre-copy pass began; undefined outside pre-copy passes. */
  #precopyPassFrom: number | undefined;
  #finalOutcome: PassOutcome | undefined;

  constructor(options: MigrateOptions, context: MigrateContext, images: readonly DescribedImage[], journal: MigrationJournal | undefined) {
    this.#options = options;
    this.#context = context;
    this.#images = images;
    this.#journal = journal;
    this.#imageBytes = images.reduce((sum, i) => sum + i.size, 0);
    this.#pageCount = images.reduce((sum, i) => sum + i.size / i.pageSize, 0);
    this.#log = context.logger.child({ migrationId: options.migrationId, role: 'source' });
    this.#tracking = new DirtyTracking(images.map((image) => context.dirtyTrackers?.get(image.name)), (error) =>
      this.#log.warn({ err: toFerryError(error) }, 'could not release a dirty-tracking generation; it goes at the end'));
    this.#convergence = new Convergence({
      policy: POLICIES[options.policy],
      context: { imageBytes: this.#imageBytes, maxDowntimeMs: options.maxDowntimeMs },
      pageSize: options.pageSize,
      mode: options.throttle,
      driver: context.throttle,
      log: this.#log,
      emit: (event) => context.onEvent?.(event),
      passBytes: () => (this.#precopyPassFrom === undefined ? undefined : this.#meter.bytes - this.#precopyPassFrom),
    });
  }

  async run(): Promise<MigrationSummary> {
    const started = performance.now();
    const userCancel = (): void => this.#cancel.abort(new FerryError(ErrorCode.Aborted, 'cancelled by the user'));
    this.#cancel.signal.addEventListener('abort', () => this.#stateAbort.abort(this.#cancel.signal.reason), { once: true });
    this.#context.signal?.addEventListener('abort', userCancel, { once: true });
    if (this.#context.signal?.aborted) userCancel();
    const timeout = this.#startTimeout();
    const ticker = setInterval(() => this.#emitProgress(), PROGRESS_INTERVAL_MS);
    let error: FerryError | undefined;
    try {
      while (!isFinished(this.#phase)) await this.#runPhase(this.#phase);
    } catch (thrown) {
      error = toFerryError(thrown);
      // Full speed before the rollback's resume hook; after the pause this only lifts limits like cpu.max.
      await this.#convergence.restore();
      this.#advance({ kind: 'failed', error });
      await this.#afterFailure(error);
    } finally {
      clearInterval(ticker);
      if (timeout) clearTimeout(timeout);
      await this.#convergence.restore();
      this.#context.signal?.removeEventListener('abort', userCancel);
      await Promise.allSettled(this.#pools.map((pool) => pool.close()));
      await this.#tracking.close();
      this.#connection?.close();
    }
    // An unknown outcome keeps its journal: `ferry recover` must be able to say GO was sent.
    if (this.#phase.name !== 'unknown') this.#journal?.remove();
    return this.#summary(performance.now() - started, error);
  }

  /** A phase in which the workload is paused runs under a deadline that rolls back (--paused-timeout). */
  #runPhase(phase: Phase): Promise<void> {
    if (!isWorkloadPaused(phase)) return this.#step(phase, this.#cancel.signal);
    const seconds = Math.round(this.#options.pausedTimeoutMs / 1000);
    const deadline = withDeadline(this.#cancel.signal, this.#options.pausedTimeoutMs, () =>
      `the ${phase.name} phase did not finish within ${seconds} s while the workload was paused (--paused-timeout); rolling back`);
    return this.#step(phase, deadline.signal).finally(deadline.done);
  }

  #step(phase: Phase, signal: AbortSignal): Promise<void> {
    switch (phase.name) {
      case 'connecting': return this.#connect(signal);
      case 'handshake': return this.#greet(signal);
      case 'precopy': return this.#precopyPass(phase.pass, signal);
      case 'pausing': return this.#pause(phase.pass, phase.reason, signal);
      case 'final-pass': return this.#finalPass(phase.pass, signal);
      case 'state': return this.#sendState(signal);
      case 'verify': return this.#verify(signal);
      case 'commit-wait': return this.#commit(signal);
      case 'go-sent': return this.#awaitResumed(signal);
      case 'done':
      case 'rollback':
      case 'unknown':
        return Promise.reject(new FerryError(ErrorCode.Internal, `nothing to run in phase ${phase.name}`));
      default:
        return assertNever(phase);
    }
  }

  async #connect(signal: AbortSignal): Promise<void> {
    this.#pools.push(...(await startPools(this.#options, this.#images)));
    this.#hasher = await createPageHasher();
    const connecting = performance.now();
    this.#attach(await TargetConnection.connect(this.#connectOptions(), signal));
    // TCP connect and the WebSocket upgrade: two round trips, near enough; pings after each pass refine it.
    this.#convergence.roundTripSample((performance.now() - connecting) / 2);
    this.#advance({ kind: 'connected' });
  }

  async #greet(signal: AbortSignal): Promise<void> {
    const options = this.#options;
    const { sessionSecret } = await greet(this.#connection!, this.#hello(false), this.#pools, this.#hasher!, options.replyTimeoutMs, signal);
    this.#sessionSecret = sessionSecret;
    this.#advance({ kind: 'welcomed' });
    this.#context.onEvent?.({ event: 'connected', url: options.url, migrationId: options.migrationId });
    const limiter = options.rateLimitBytesPerSec ? new RateLimiter(options.rateLimitBytesPerSec) : undefined;
    const tracking = this.#tracking;
    this.#sender = new PassSender(this.#connection!, this.#pools, this.#meter, limiter, options.compress === 'auto',
      tracking.active ? (image, pass, paused) => tracking.rangesFor(image, pass, paused) : undefined);
    await tracking.start(); // tracked images record their writes from before pass 0 reads them
  }

  /**
   * One pre-copy pass and the stop decision after it: the seam of the pass loop. A step between passes
   * (throttling the workload) belongs after the decision, other dirty sources inside the sender.
   * A cut costs a reconnect, not the migration: the cut pass is started over on the new connection.
   */
  async #precopyPass(pass: number, signal: AbortSignal): Promise<void> {
    let outcome: PassOutcome;
    this.#precopyPassFrom = this.#meter.bytes;
    try {
      outcome = await this.#sendPass(pass, false, signal);
    } catch (thrown) {
      await this.#reconnectAfterCut(toFerryError(thrown), pass, signal);
      return;
    } finally {
      this.#precopyPassFrom = undefined;
    }
    const record: PassRecord = { ...outcome, bandwidth: rate(outcome.bytesSent, outcome.durationMs) };
    this.#history.push(record);
    const decision = this.#stopDecision();
    this.#convergence.pingAfterPass(this.#connection!.roundTrip());
    const why = this.#convergence.fields();
    this.#log.info({ ...record, ...why, decision }, 'pass done');
    this.#context.onEvent?.({ event: 'pass-end', ...record, ...why, stop: decision.stop, final: false, ...(decision.stop ? { reason: decision.reason } : {}) });
    if (decision.stop) this.#stopReason = decision.reason;
    this.#advance(decision.stop ? { kind: 'pass-done', stop: true, reason: decision.reason } : { kind: 'pass-done', stop: false });
  }

  /** The throttle steps and the (capped) stop policy decides, in Convergence; --on-timeout force overrides. */
  #stopDecision(): StopDecision {
    return this.#forceStop ? this.#convergence.forced(this.#history, this.#forceStop) : this.#convergence.afterPass(this.#history);
  }

  /** Retries with backoff until --reconnect-timeout; a cut after the pause is not retried (rolling back is quicker). */
  async #reconnectAfterCut(cause: FerryError, pass: number, signal: AbortSignal): Promise<void> {
    if (cause.code !== ErrorCode.Disconnected || this.#options.reconnectTimeoutMs <= 0 || signal.aborted) throw cause;
    this.#log.warn({ err: cause, pass }, 'connection lost during pre-copy; reconnecting');
    this.#context.onEvent?.({ event: 'disconnected', pass, reason: cause.message });
    this.#connection?.terminate();
    this.#tracking.reconnected();
    const { result, attempts } = await retryUntil(
      this.#options.reconnectTimeoutMs,
      (ms) => delay(ms, signal),
      () => handshake(this.#connectOptions(), this.#hello(true), this.#pools, this.#hasher!, signal),
      cause,
    );
    this.#sessionSecret = result.sessionSecret ?? this.#sessionSecret;
    this.#attach(result.connection);
    this.#advance({ kind: 'reconnected' });
    this.#log.info({ attempts, resumed: result.resumed, heldPages: result.heldPages }, 'reconnected');
    this.#context.onEvent?.({ event: 'reconnected', pass, attempts, resumed: result.resumed, heldPages: result.heldPages });
  }

  async #pause(pass: number, reason: string, signal: AbortSignal): Promise<void> {
    // Pre-copy bytes still queued (socket buffers, a slow link) would otherwise be paid for inside the
    // pause: the guest runs until they have reached the target, and the final pass picks up what it dirtied.
    const draining = performance.now();
    await this.#connection!.drained(this.#options.replyTimeoutMs, signal);
    this.#log.debug({ durationMs: Math.round(performance.now() - draining) }, 'pre-copy bytes reached the target');
    await this.#convergence.hold();
    if (Math.max(...this.#history.map((p) => p.bandwidth)) < COMPRESS_PAUSED_BELOW) this.#sender!.compressFromNowOn();
    this.#pausedAt = performance.now();
    await this.#context.hooks.pause(signal);
    this.#advance({ kind: 'paused' });
    this.#context.onEvent?.({ event: 'paused', pass, reason });
    await this.#connection!.sendControl({ type: MessageType.Paused });
  }

  async #finalPass(pass: number, signal: AbortSignal): Promise<void> {
    this.#nextPass = pass + 1;
    const final = await this.#sendPass(pass, true, signal, undefined, { images: this.#tracking.trackedImages('disks'), run: () => this.#startStateCollection() });
    this.#finalOutcome = final;
    this.#log.info({ ...final }, 'final pass done');
    this.#context.onEvent?.({ event: 'pass-end', ...final, bandwidth: rate(final.bytesSent, final.durationMs), stop: true, final: true });
    this.#advance({ kind: 'final-pass-done' });
  }

  /**
   * The state hook runs, and its blobs go out, as soon as the final pass has read every tracked image (a
   * guest disk): a hypervisor may finish with its disks then (QEMU inactivates them once it wrote its
   * state). Without tracked images it starts with the pass. The target takes STATE messages between
   * the final pass's PAGES; VERIFY follows both. Started once; the state phase waits for it, and a
   * rollback waits for it to settle first.
   */
  #startStateCollection(): void {
    if (this.#stateCollection) return;
    const signal = this.#stateAbort.signal;
    const collecting = (async () => {
      const dir = await this.#freshBlobDir();
      try {
        const produced = await this.#context.hooks.collectState(dir, signal);
        await sendStateBlobs(this.#connection!, [...this.#options.stateFiles, ...produced], this.#hasher!, (name, bytes) =>
          this.#context.onEvent?.({ event: 'state', name, bytes }), signal);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    })();
    collecting.catch(() => {}); // awaited by the state phase, or settled before a rollback
    this.#stateCollection = collecting;
  }

  async #sendState(signal: AbortSignal): Promise<void> {
    this.#startStateCollection();
    await abortable(this.#stateCollection!, signal);
    this.#advance({ kind: 'state-sent' });
  }

  /** Under the journal when there is one, so that a killed migration leaves nothing in the temp directory. */
  async #freshBlobDir(): Promise<string> {
    const journal = this.#journal;
    if (!journal) return mkdtemp(join(tmpdir(), 'ferry-state-'));
    await rm(journal.blobDir, { recursive: true, force: true });
    await mkdir(journal.blobDir, { mode: 0o700 });
    return journal.blobDir;
  }

  async #verify(signal: AbortSignal): Promise<void> {
    await verifyImages({
      connection: this.#connection!,
      hasher: this.#hasher!,
      pools: this.#pools,
      imageNames: this.#images.map((i) => i.name),
      replyTimeoutMs: this.#options.replyTimeoutMs,
      retries: this.#options.verifyRetries,
      signal,
      resend: async (scope: PassScope) => { await this.#sendPass(this.#nextPass++, true, signal, scope); },
      onResult: (image, ok, mismatchedPages) => {
        if (!ok) this.#log.warn({ image, mismatchedPages }, 'verify mismatch; re-sending those pages');
        this.#context.onEvent?.({ event: 'verify', image, ok, mismatchedPages });
      },
    });
    this.#advance({ kind: 'verified' });
  }

  async #commit(signal: AbortSignal): Promise<void> {
    await this.#connection!.expect([MessageType.CommitReady], this.#options.replyTimeoutMs, 'the verified images (COMMIT_READY)', signal);
    // The last look before the point of no return: the images are still the files that were sent.
    checkImagesUnchanged(this.#images);
    this.#context.onEvent?.({ event: 'commit-ready' });
    // The phase (and the journal) move first: once GO may have left, a failure must never resume the source.
    this.#advance({ kind: 'commit-ready' });
    await this.#connection!.sendControl({ type: MessageType.Go });
    this.#context.onEvent?.({ event: 'go' });
  }

  async #awaitResumed(signal: AbortSignal): Promise<void> {
    await this.#connection!.expect([MessageType.Resumed], this.#options.replyTimeoutMs, 'GO (RESUMED)', signal);
    this.#unpausedAt = performance.now();
    this.#advance({ kind: 'resumed' });
    this.#context.onEvent?.({ event: 'resumed', pauseMs: this.#pauseMs() });
    await this.#context.hooks.committed(signal).catch((error: unknown) =>
      this.#log.warn({ err: toFerryError(error) }, 'the post-commit hook failed; the workload runs on the target'));
  }

  /** Every pass checks that the images are still the files they were; a change explains a failed pass best. */
  async #sendPass(pass: number, final: boolean, signal: AbortSignal, scope?: PassScope, after?: AfterImages): Promise<PassOutcome> {
    this.#context.onEvent?.({ event: 'pass-begin', pass, final });
    this.#passStartedAt = performance.now();
    let outcome: PassOutcome;
    try {
      outcome = await this.#sender!.sendPass(pass, signal, scope, final, after);
    } catch (error) {
      checkImagesUnchanged(this.#images);
      throw error;
    }
    checkImagesUnchanged(this.#images);
    return outcome;
  }

  async #afterFailure(error: FerryError): Promise<void> {
    if (this.#phase.name === 'unknown') {
      this.#log.error({ err: error }, 'GO was sent but RESUMED never came: the outcome is unknown; the source stays paused');
      return;
    }
    this.#log.warn({ err: error }, 'migration failed before GO: rolling back');
    this.#context.onEvent?.({ event: 'rollback', code: error.code, reason: error.message });
    await this.#connection?.abort(`${error.code}: ${error.message}`);
    // A state hook still writing must finish before the workload resumes (it may be QEMU's own migrate).
    this.#stateAbort.abort(error);
    await this.#stateCollection?.catch(() => undefined);
    await this.#context.hooks.resume();
    if (this.#pausedAt !== undefined) this.#unpausedAt = performance.now();
  }

  #connectOptions(): ConnectOptions {
    return connectOptionsFor(this.#options, this.#meter);
  }

  #hello(resume: boolean): Omit<Hello, 'type' | 'version'> {
    const hello = helloFor(this.#options, this.#images, resume);
    return resume && this.#sessionSecret !== undefined ? { ...hello, sessionSecret: this.#sessionSecret } : hello;
  }

  #attach(connection: TargetConnection): void {
    this.#connection = connection;
    connection.onAck = (ack) => {
      this.#bytesReceived = ack.bytesReceived;
      // The target is in pass ack.pass: every message of the passes before it is applied.
      this.#tracking.acknowledged(ack.pass - 1);
    };
    this.#sender?.useConnection(connection);
  }

  #advance(event: PhaseEvent): void {
    const before = this.#phase.name;
    this.#phase = step(this.#phase, event);
    if (this.#phase.name === before) return;
    this.#log.debug({ from: before, to: this.#phase.name }, 'phase');
    try {
      this.#journal?.record(this.#phase);
    } catch (error) {
      this.#log.warn({ err: error }, 'could not write the migration journal; ferry recover will not know this migration');
    }
  }

  #startTimeout(): NodeJS.Timeout | undefined {
    const { timeoutMs, onTimeout } = this.#options;
    if (timeoutMs === undefined) return undefined;
    return setTimeout(() => {
      if (this.#phase.name !== 'precopy' && this.#phase.name !== 'connecting' && this.#phase.name !== 'handshake') return;
      const seconds = Math.round(timeoutMs / 1000);
      if (onTimeout === 'force') {
        this.#forceStop = `timeout: pre-copy ran ${seconds} s; pausing anyway (--on-timeout force)`;
        this.#log.warn(this.#forceStop);
      } else {
        this.#cancel.abort(new FerryError(ErrorCode.Timeout, `the migration did not converge within ${seconds} s and was cancelled (--on-timeout cancel); the workload keeps running on the source`));
      }
    }, timeoutMs);
  }

  #emitProgress(): void {
    const sender = this.#sender;
    if (!sender || (this.#phase.name !== 'precopy' && this.#phase.name !== 'final-pass')) return;
    const fraction = this.#pageCount > 0 ? Math.min(1, sender.passScanned / this.#pageCount) : 0;
    this.#context.onEvent?.({
      event: 'progress',
      pass: this.#phase.pass,
      bytesSent: this.#meter.bytes,
      pagesSent: sender.totals.pagesSent,
      bytesReceived: this.#bytesReceived,
      rate: this.#history.at(-1)?.bandwidth ?? 0,
      imageBytes: this.#imageBytes,
      passFraction: fraction,
      ...(this.#tracking.trackedImages('disks').length > 0 ? { diskBytesSent: Object.values(this.#diskSummaries()).reduce((sum, d) => sum + d.bytesSent, 0) } : {}),
      // The running pass's end, extrapolated from how far its scan got.
      ...(fraction > 0.02 && fraction < 1 ? { passEtaMs: Math.round(((performance.now() - this.#passStartedAt) * (1 - fraction)) / fraction) } : {}),
      ...this.#convergence.fields(),
    });
  }

  /** From the pause hook to RESUMED, or to the end of the rollback; still counting while the source stays paused. */
  #pauseMs(): number {
    return this.#pausedAt === undefined ? 0 : (this.#unpausedAt ?? performance.now()) - this.#pausedAt;
  }

  #summary(totalMs: number, error: FerryError | undefined): MigrationSummary {
    const phase = this.#phase.name;
    return summarize({
      result: phase === 'done' ? 'committed' : phase === 'unknown' ? 'unknown' : 'rolled-back',
      migrationId: this.#options.migrationId, totalMs, pauseMs: this.#pauseMs(), imageBytes: this.#imageBytes,
      bytesSent: this.#meter.bytes, totals: this.#sender?.totals, history: this.#history,
      paused: this.#pausedAt !== undefined, stopReason: this.#stopReason, error, disks: this.#diskSummaries(),
      finalPass: this.#finalOutcome, dirtyLog: this.#dirtyLogs(),
    });
  }

  /** How each image's dirty pages were found, and why that way. */
  #dirtyLogs(): Record<string, { method: string; reason: string }> {
    const described = this.#tracking.describe();
    return Object.fromEntries(this.#images.map((image, index) => [image.name, described[index] ?? {
      method: this.#tracking.trackedImages().includes(index) ? 'tracker' : 'hash',
      reason: this.#context.hashReasons?.get(image.name) ?? 'every page is read and hashed each pass',
    }]));
  }

  /** Bytes and passes of each guest disk a dirty tracker follows. */
  #diskSummaries(): Record<string, DiskSummary> {
    const disks: Record<string, DiskSummary> = {};
    const passes = this.#tracking.passesRead();
    const diskImages = new Set(this.#tracking.trackedImages('disks'));
    this.#images.forEach((image, index) => {
      const read = passes[index];
      if (read !== undefined && diskImages.has(index)) disks[image.name] = { bytesSent: this.#sender?.imageBytesSent[index] ?? 0, passes: read };
    });
    return disks;
  }
}
