import { ErrorCode, FerryError, MessageType, toFerryError, type Hello } from '@ferry/protocol';
import type { PageHasher, ScanPool } from '@ferry/pages';
import { abortable, delay } from './abort.js';
import type { TargetConnection } from './connection.js';
import { checkImagesUnchanged } from './images.js';
import type { MigrationRun } from './migration-run.js';
import { paceFor, type LinkPacing } from './link-pacing.js';
import { PassSender, type AfterImages, type PassOutcome, type PassScope } from './pass-sender.js';
import { assertNever, isFinished, type Phase } from './phases.js';
import type { PacingSummary } from './events.js';
import { PauseEntry, whyItEnded } from './pause-entry.js';
import { bestBandwidth, type PassRecord } from './policies.js';
import { greet, handshake, retryUntil, type HandshakeResult } from './resume.js';
import { connectOptionsFor, helloFor } from './setup.js';
import { StateCollection } from './state-collection.js';
import { verifyImages } from './verify.js';

const PROGRESS_INTERVAL_MS = 250;
/** Below this link rate (bytes/s) LZ4 (several hundred MB/s per worker) shortens a paused pass. */
const COMPRESS_PAUSED_BELOW = 100e6;

const rate = (bytes: number, ms: number): number => (ms > 0 ? (bytes * 1000) / ms : 0);

/** What a transfer leaves for the migration's summary. */
export interface TransferFigures {
  readonly sender: PassSender;
  readonly stopReason: string | undefined;
  readonly finalPass: PassOutcome | undefined;
  readonly pacing: PacingSummary;
}

/**
 * A connected migration: it owns the connection to the target (and replaces it after a cut) and runs
 * every phase from the handshake to RESUMED. The pure phases (phases.ts) drive it: `run` asks the
 * current phase what to do, one method per phase does that I/O and reports the event that moves the
 * phase on. Each method settles only once its work has stopped, so the rollback that follows never races
 * a hook or a pass still running.
 */
export class Transfer {
  readonly #run: MigrationRun;
  readonly #pools: readonly ScanPool[];
  readonly #hasher: PageHasher;
  readonly #sender: PassSender;
  readonly #state: StateCollection;
  readonly #pacing: LinkPacing;
  readonly #pauseEntry: PauseEntry;
  #connection: TargetConnection;
  /** Proof for a resume that this is the source the target welcomed (from WELCOME). */
  #sessionSecret: string | undefined;
  #passStartedAt = 0;
  #nextPass = 0;
  #bytesReceived = 0;
  #stopReason: string | undefined;
  #finalOutcome: PassOutcome | undefined;

  constructor(run: MigrationRun, connection: TargetConnection, pools: readonly ScanPool[], hasher: PageHasher) {
    const { options, tracking } = run;
    this.#run = run;
    this.#pools = pools;
    this.#hasher = hasher;
    this.#connection = connection;
    const pace = paceFor(options, run.meter, run.log);
    this.#pacing = pace.pacing;
    this.#pauseEntry = new PauseEntry(run, pace.pacing);
    this.#sender = new PassSender(connection, pools, run.meter, pace, options.compress,
      tracking.active ? (image, pass, paused) => tracking.rangesFor(image, pass, paused) : undefined);
    this.#state = new StateCollection(run, hasher);
    this.#attach(connection);
  }

  get figures(): TransferFigures {
    return { sender: this.#sender, stopReason: this.#stopReason, finalPass: this.#finalOutcome, pacing: this.#pacing.summary };
  }

  /** Runs the phases until the migration has ended or one of them throws. */
  async run(): Promise<void> {
    const ticker = setInterval(() => this.#emitProgress(), PROGRESS_INTERVAL_MS);
    try {
      while (!isFinished(this.#run.phase)) {
        const phase = this.#run.phase;
        await this.#run.runPhase(phase, (signal) => this.#step(phase, signal));
      }
    } finally {
      clearInterval(ticker);
    }
  }

  #emitProgress(): void {
    const progress = this.#run.progress(this.#sender, this.#bytesReceived, this.#passStartedAt);
    if (progress) this.#run.emit(progress);
  }

  /** A rollback: tell the target why, and let a state hook still writing finish before the workload resumes. */
  async abandon(error: FerryError): Promise<void> {
    await this.#connection.abort(`${error.code}: ${error.message}`);
    await this.#state.stop(error);
  }

  close(): void {
    this.#connection.close();
  }

  #step(phase: Phase, signal: AbortSignal): Promise<void> {
    switch (phase.name) {
      case 'handshake': return this.#greet(signal);
      case 'precopy': return this.#precopyPass(phase.pass, signal);
      case 'pausing': return this.#pause(phase.pass, phase.reason, signal);
      case 'final-pass': return this.#finalPass(phase.pass, signal);
      case 'state': return this.#sendState(signal);
      case 'verify': return this.#verify(signal);
      case 'commit-wait': return this.#commit(signal);
      case 'go-sent': return this.#awaitResumed(signal);
      case 'connecting':
      case 'done':
      case 'rollback':
      case 'unknown':
        return Promise.reject(new FerryError(ErrorCode.Internal, `nothing for a connected migration to run in phase ${phase.name}`));
      default:
        return assertNever(phase);
    }
  }

  async #greet(signal: AbortSignal): Promise<void> {
    const { options, tracking } = this.#run;
    this.#attach(this.#connection, await greet(this.#connection, this.#hello(false), this.#pools, this.#hasher, options.replyTimeoutMs, signal));
    this.#run.advance({ kind: 'welcomed' });
    this.#run.emit({ event: 'connected', url: options.url, migrationId: options.migrationId });
    await tracking.start(); // tracked images record their writes from before pass 0 reads them
  }

  /**
   * One pre-copy pass and the stop decision after it: the seam of the pass loop. A step between passes
   * (throttling the workload) belongs after the decision, other dirty sources inside the sender.
   * A cut costs a reconnect, not the migration: the cut pass is started over on the new connection.
   */
  async #precopyPass(pass: number, signal: AbortSignal): Promise<void> {
    const { convergence, history, log, context } = this.#run;
    // From pass 1 on any pass may be the last: the pause hook's shell is started now, not just before the
    // pause, where its fork (which grows with this process's memory) would hold the pause back.
    if (pass > 0) context.hooks.preparePause?.();
    // The throttle watches the running pass's bytes until it is over, a reconnect after a cut included.
    const outcome = await this.#run.precopyPass(async () => {
      try {
        return await this.#sendPass(pass, false, signal);
      } catch (thrown) {
        await this.#reconnectAfterCut(toFerryError(thrown), pass, signal);
        return undefined;
      }
    });
    if (outcome === undefined) return; // the cut pass starts over on the new connection
    const record: PassRecord = { ...outcome, bandwidth: rate(outcome.bytesSent, outcome.durationMs) };
    history.push(record);
    // The throttle steps and the (capped) stop policy decides, in Convergence; --on-timeout force overrides.
    const { forceStop } = this.#run;
    const decision = this.#pauseEntry.afterPass(forceStop ? convergence.forced(history, forceStop) : convergence.afterPass(history), forceStop !== undefined);
    convergence.pingAfterPass(this.#connection.roundTrip());
    const why = convergence.fields();
    log.info({ ...record, ...why, decision }, 'pass done');
    // A pass shorter than the progress tick still reports its totals (the bar, the daemon's metrics).
    this.#emitProgress();
    this.#run.emit({ event: 'pass-end', ...record, ...why, stop: decision.stop, final: false, ...whyItEnded(decision) });
    if (decision.stop) this.#stopReason = decision.reason;
    this.#run.advance(decision.stop ? { kind: 'pass-done', stop: true, reason: decision.reason } : { kind: 'pass-done', stop: false });
  }

  /** Retries with backoff until --reconnect-timeout; a cut after the pause is not retried (rolling back is quicker). */
  async #reconnectAfterCut(cause: FerryError, pass: number, signal: AbortSignal): Promise<void> {
    const { options, log, tracking } = this.#run;
    if (cause.code !== ErrorCode.Disconnected || options.reconnectTimeoutMs <= 0 || signal.aborted) throw cause;
    log.warn({ err: cause, pass }, 'connection lost during pre-copy; reconnecting');
    this.#run.emit({ event: 'disconnected', pass, reason: cause.message });
    this.#connection.terminate();
    tracking.reconnected();
    const { result, attempts } = await retryUntil(options.reconnectTimeoutMs, (ms) => delay(ms, signal),
      () => handshake(connectOptionsFor(options, this.#run.meter), this.#hello(true), this.#pools, this.#hasher, signal), cause);
    this.#attach(result.connection, result);
    this.#run.advance({ kind: 'reconnected' });
    log.info({ attempts, resumed: result.resumed, heldPages: result.heldPages }, 'reconnected');
    this.#run.emit({ event: 'reconnected', pass, attempts, resumed: result.resumed, heldPages: result.heldPages });
  }

  async #pause(pass: number, reason: string, signal: AbortSignal): Promise<void> {
    const { convergence, history, context } = this.#run;
    context.hooks.preparePause?.();
    this.#pacing.preCopyEnded();
    await this.#pauseEntry.drain(this.#connection, signal);
    await convergence.hold();
    if (bestBandwidth(history) < COMPRESS_PAUSED_BELOW) this.#sender.compressFromNowOn();
    this.#run.pause.pause();
    await context.hooks.pause(signal);
    this.#run.pause.mark('pause-hook');
    this.#run.advance({ kind: 'paused' });
    this.#run.emit({ event: 'paused', pass, reason });
    await this.#connection.sendControl({ type: MessageType.Paused });
  }

  async #finalPass(pass: number, signal: AbortSignal): Promise<void> {
    this.#nextPass = pass + 1;
    const connection = this.#connection;
    const after: AfterImages = { images: this.#run.tracking.trackedImages('disks'), run: () => void this.#state.start(connection) };
    const final = await this.#sendPass(pass, true, signal, undefined, after);
    // Batches are sent as the workers produce them: the pass's time blocked on the link is the wire's, the rest the scan's.
    const end = performance.now();
    this.#run.pause.mark('final-scan', end - this.#sender.passLinkWaitMs);
    this.#run.pause.mark('final-wire', end);
    this.#finalOutcome = final;
    this.#run.log.info({ ...final }, 'final pass done');
    this.#run.emit({ event: 'pass-end', ...final, bandwidth: rate(final.bytesSent, final.durationMs), stop: true, final: true });
    this.#run.advance({ kind: 'final-pass-done' });
  }

  async #sendState(signal: AbortSignal): Promise<void> {
    await abortable(this.#state.start(this.#connection), signal);
    this.#run.pause.mark('state');
    this.#run.advance({ kind: 'state-sent' });
  }

  async #verify(signal: AbortSignal): Promise<void> {
    const { options, images, log } = this.#run;
    await verifyImages({
      connection: this.#connection,
      hasher: this.#hasher,
      pools: this.#pools,
      imageNames: images.map((i) => i.name),
      replyTimeoutMs: options.replyTimeoutMs,
      retries: options.verifyRetries,
      signal,
      resend: async (scope: PassScope) => { await this.#sendPass(this.#nextPass++, true, signal, scope); },
      onResult: (image, ok, mismatchedPages) => {
        if (!ok) log.warn({ image, mismatchedPages }, 'verify mismatch; re-sending those pages');
        this.#run.emit({ event: 'verify', image, ok, mismatchedPages });
      },
    });
    this.#run.pause.mark('verify');
    this.#run.advance({ kind: 'verified' });
  }

  async #commit(signal: AbortSignal): Promise<void> {
    const ready = await this.#connection.expect([MessageType.CommitReady], this.#run.options.replyTimeoutMs, 'the verified images (COMMIT_READY)', signal);
    // A target that reports its fsync leaves the rest of the wait to the round trip; an older one, the whole wait.
    if (ready.durableUs === undefined) this.#run.pause.mark('target-fsync');
    else this.#run.pause.mark('commit-ready-rtt', undefined, [{ step: 'target-fsync', ms: ready.durableUs / 1000 }]);
    // The last look before the point of no return: the images are still the files that were sent.
    checkImagesUnchanged(this.#run.images);
    this.#run.emit({ event: 'commit-ready' });
    // The phase (and the journal) move first: once GO may have left, a failure must never resume the source.
    this.#run.advance({ kind: 'commit-ready' });
    await this.#connection.sendControl({ type: MessageType.Go });
    this.#run.pause.mark('go');
    this.#run.emit({ event: 'go' });
  }

  async #awaitResumed(signal: AbortSignal): Promise<void> {
    const { options, log, context } = this.#run;
    const resumed = await this.#connection.expect([MessageType.Resumed], options.replyTimeoutMs, 'GO (RESUMED)', signal);
    const { commitUs, resumeUs } = resumed;
    if (commitUs === undefined || resumeUs === undefined) this.#run.pause.mark('target-resume');
    else this.#run.pause.mark('resumed-rtt', undefined, [{ step: 'target-commit', ms: commitUs / 1000 }, { step: 'target-resume', ms: resumeUs / 1000 }]);
    this.#run.pause.unpause();
    this.#run.advance({ kind: 'resumed' });
    this.#run.emit({ event: 'resumed', pauseMs: this.#run.pause.ms });
    await context.hooks.committed(signal).catch((error: unknown) =>
      log.warn({ err: toFerryError(error) }, 'the post-commit hook failed; the workload runs on the target'));
  }

  /** Every pass checks that the images are still the files they were; a change explains a failed pass best. */
  async #sendPass(pass: number, final: boolean, signal: AbortSignal, scope?: PassScope, after?: AfterImages): Promise<PassOutcome> {
    const images = this.#run.images;
    this.#run.emit({ event: 'pass-begin', pass, final });
    this.#passStartedAt = performance.now();
    let outcome: PassOutcome;
    try {
      outcome = await this.#sender.sendPass(pass, signal, scope, final, after);
    } catch (error) {
      checkImagesUnchanged(images);
      throw error;
    }
    checkImagesUnchanged(images);
    return outcome;
  }

  #hello(resume: boolean): Omit<Hello, 'type' | 'version'> {
    const hello = helloFor(this.#run.options, this.#run.images, resume);
    return resume && this.#sessionSecret !== undefined ? { ...hello, sessionSecret: this.#sessionSecret } : hello;
  }

  /** `greeted`: WELCOME read on it, with its secret for a resume and its ACKs for the pacing. */
  #attach(connection: TargetConnection, greeted?: Pick<HandshakeResult, 'sessionSecret' | 'acks'>): void {
    this.#connection = connection;
    this.#sessionSecret = greeted?.sessionSecret ?? this.#sessionSecret;
    if (greeted) this.#pacing.connected(connection, greeted.acks);
    connection.onAck = (ack) => {
      this.#bytesReceived = ack.bytesReceived;
      this.#pacing.acked(connection, ack.bytesReceived);
      // The target is in pass ack.pass: every message of the passes before it is applied.
      this.#run.tracking.acknowledged(ack.pass - 1);
    };
    this.#sender.useConnection(connection);
  }
}
