import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  DEFAULT_LIMITS, ErrorCode, FerryError, MessageType, toFerryError, type Hello,
} from '@ferry/protocol';
import { createPageHasher, ScanPool, type PageHasher } from '@ferry/pages';
import { describeImages, type DescribedImage } from './images.js';
import type { ConnectOptions, TargetConnection } from './connection.js';
import { handshake, retryUntil } from './resume.js';
import { summarize, type DiskSummary, type MigrationSummary, type ProgressEvent } from './events.js';
import type { SourceHooks } from './hooks.js';
import type { MigrateOptions } from './options.js';
import { PassSender, type PassScope } from './pass-sender.js';
import { INITIAL_PHASE, step, type Phase, type PhaseEvent } from './phases.js';
import { POLICIES, type PassRecord, type StopDecision } from './policies.js';
import { RateLimiter } from './rate-limiter.js';
import { sendStateBlobs } from './state-blobs.js';
import { verifyImages } from './verify.js';
import { DirtyTracking, type DirtyTracker } from './dirty-tracking.js';

export interface MigrateContext {
  readonly logger: Logger;
  readonly hooks: SourceHooks;
  readonly onEvent?: ((event: ProgressEvent) => void) | undefined;
  /** Aborting it (Ctrl-C) cancels the migration: before GO that is a rollback. */
  readonly signal?: AbortSignal | undefined;
  /** Images (by name) whose dirty pages a tracker reports instead of a full hash scan (guest disks). */
  readonly dirtyTrackers?: ReadonlyMap<string, DirtyTracker> | undefined;
}

const PROGRESS_INTERVAL_MS = 250;

const rate = (bytes: number, ms: number): number => (ms > 0 ? (bytes * 1000) / ms : 0);

/** Runs one migration to its end: committed, rolled back (source resumed) or unknown (after GO). */
export async function migrate(options: MigrateOptions, context: MigrateContext): Promise<MigrationSummary> {
  const images = describeImages(options);
  const run = new SourceMigration(options, context, images);
  return run.run();
}

class SourceMigration {
  readonly #options: MigrateOptions;
  readonly #context: MigrateContext;
  readonly #log: Logger;
  readonly #images: readonly DescribedImage[];
  readonly #imageBytes: number;
  readonly #pageCount: number;
  #passStartedAt = 0;
  readonly #history: PassRecord[] = [];
  readonly #pools: ScanPool[] = [];
  #phase: Phase = INITIAL_PHASE;
  #connection: TargetConnection | undefined;
  #sender: PassSender | undefined;
  #hasher: PageHasher | undefined;
  #cancel: (error: FerryError) => void = () => {};
  readonly #cancelled: Promise<never>;
  #forceStop: string | undefined;
  #bytesApplied = 0;
  #pausedAt: number | undefined;
  #pauseMs = 0;
  #stopReason: string | undefined;
  readonly #tracking: DirtyTracking;

  constructor(options: MigrateOptions, context: MigrateContext, images: readonly DescribedImage[]) {
    this.#options = options;
    this.#context = context;
    this.#images = images;
    this.#imageBytes = images.reduce((sum, i) => sum + i.size, 0);
    this.#pageCount = images.reduce((sum, i) => sum + i.size / i.pageSize, 0);
    this.#log = context.logger.child({ migrationId: options.migrationId, role: 'source' });
    this.#tracking = new DirtyTracking(images.map((image) => context.dirtyTrackers?.get(image.name)), (error) =>
      this.#log.warn({ err: toFerryError(error) }, 'could not release a dirty-tracking generation; it goes at the end'));
    this.#cancelled = new Promise<never>((_resolve, reject) => {
      this.#cancel = (error) => {
        if (this.#sender) this.#sender.cancelled = error;
        reject(error);
      };
    });
    this.#cancelled.catch(() => {});
  }

  async run(): Promise<MigrationSummary> {
    const started = performance.now();
    const stopSignal = () => this.#cancel(new FerryError(ErrorCode.Aborted, 'cancelled by the user'));
    this.#context.signal?.addEventListener('abort', stopSignal, { once: true });
    if (this.#context.signal?.aborted) stopSignal();
    const timeout = this.#startTimeout();
    const ticker = setInterval(() => this.#emitProgress(), PROGRESS_INTERVAL_MS);
    let error: FerryError | undefined;
    try {
      await this.#interruptible(this.#transfer());
    } catch (thrown) {
      error = toFerryError(thrown);
      this.#advance({ kind: 'failed', error });
      await this.#afterFailure(error);
    } finally {
      clearInterval(ticker);
      if (timeout) clearTimeout(timeout);
      this.#context.signal?.removeEventListener('abort', stopSignal);
      await Promise.allSettled(this.#pools.map((pool) => pool.close()));
      await this.#tracking.close();
      this.#connection?.close();
    }
    return this.#summary(performance.now() - started, error);
  }

  async #transfer(): Promise<void> {
    const options = this.#options;
    this.#pools.push(...(await Promise.all(this.#images.map((image) => ScanPool.start({
      imagePath: image.path,
      pageSize: image.pageSize,
      workers: Math.max(1, Math.floor(options.workers / this.#images.length)),
      deltaCacheBytes: Math.floor(options.deltaCacheBytes / this.#images.length),
      delta: options.delta,
      compress: options.compress,
    })))));
    this.#hasher = await createPageHasher();
    const { connection } = await handshake(this.#connectOptions(), this.#hello(false), this.#pools, this.#hasher, options.replyTimeoutMs);
    this.#attach(connection);
    this.#advance({ kind: 'connected' });
    this.#advance({ kind: 'welcomed' });
    this.#context.onEvent?.({ event: 'connected', url: options.url, migrationId: options.migrationId });

    const limiter = options.rateLimitBytesPerSec ? new RateLimiter(options.rateLimitBytesPerSec) : undefined;
    const tracking = this.#tracking;
    this.#sender = new PassSender(connection, this.#pools, limiter, options.compress === 'auto',
      tracking.active ? (image, pass) => tracking.rangesFor(image, pass) : undefined);
    await tracking.start();
    await this.#precopyResumingAfterCuts();
    await this.#pauseAndFinish(this.#connection!);
  }

  #connectOptions(): ConnectOptions {
    const o = this.#options;
    return {
      url: o.url, token: o.token, ca: o.ca, clientCert: o.clientCert, clientKey: o.clientKey,
      timeoutMs: o.replyTimeoutMs, maxPayload: DEFAULT_LIMITS.maxMessageBytes,
    };
  }

  #hello(resume: boolean): Omit<Hello, 'type' | 'version'> {
    const o = this.#options;
    return {
      migrationId: o.migrationId,
      images: this.#images.map(({ name, size, pageSize }) => ({ name, size, pageSize })),
      resume,
      options: { policy: o.policy, compress: o.compress, delta: o.delta },
    };
  }

  #attach(connection: TargetConnection): void {
    this.#connection = connection;
    connection.onAck = (ack) => {
      this.#bytesApplied = ack.bytesApplied;
      // The target is in pass ack.pass: every message of the passes before it is applied.
      this.#tracking.acknowledged(ack.pass - 1);
    };
    this.#sender?.useConnection(connection);
  }

  /**
   * A cut during pre-copy costs a reconnect, not the migration: retry with backoff until
   * --reconnect-timeout, resume from what the target holds, and start the cut pass over.
   * A cut after the pause is not retried: the workload is paused, so rolling back is quicker.
   */
  async #precopyResumingAfterCuts(): Promise<void> {
    for (;;) {
      try {
        await this.#precopy();
        return;
      } catch (thrown) {
        const error = toFerryError(thrown);
        if (error.code !== ErrorCode.Disconnected || this.#phase.name !== 'precopy' || this.#options.reconnectTimeoutMs <= 0 || this.#sender?.cancelled) throw error;
        await this.#reconnect(error, this.#phase.pass);
      }
    }
  }

  async #reconnect(cause: FerryError, pass: number): Promise<void> {
    this.#log.warn({ err: cause, pass }, 'connection lost during pre-copy; reconnecting');
    this.#context.onEvent?.({ event: 'disconnected', pass, reason: cause.message });
    this.#connection?.terminate();
    this.#tracking.reconnected();
    const { result, attempts } = await retryUntil(
      this.#options.reconnectTimeoutMs,
      (ms) => this.#interruptible(new Promise((resolve) => setTimeout(resolve, ms))),
      () => handshake(this.#connectOptions(), this.#hello(true), this.#pools, this.#hasher!, this.#options.replyTimeoutMs),
      cause,
    );
    this.#attach(result.connection);
    this.#advance({ kind: 'reconnected' });
    this.#log.info({ attempts, resumed: result.resumed, heldPages: result.heldPages }, 'reconnected');
    this.#context.onEvent?.({ event: 'reconnected', pass, attempts, resumed: result.resumed, heldPages: result.heldPages });
  }

  async #precopy(): Promise<void> {
    const policy = POLICIES[this.#options.policy];
    const context = { imageBytes: this.#imageBytes, pageSize: this.#options.pageSize, maxDowntimeMs: this.#options.maxDowntimeMs };
    while (this.#phase.name === 'precopy') {
      const outcome = await this.#pass(this.#phase.pass, false);
      const record: PassRecord = {
        ...outcome,
        bandwidth: rate(outcome.bytesSent, outcome.durationMs),
      };
      this.#history.push(record);
      const decision: StopDecision = this.#forceStop ? { stop: true, reason: this.#forceStop } : policy(this.#history, context);
      this.#log.info({ ...record, decision }, 'pass done');
      this.#context.onEvent?.({ event: 'pass-end', ...record, stop: decision.stop, final: false, ...(decision.stop ? { reason: decision.reason } : {}) });
      this.#advance(decision.stop ? { kind: 'pass-done', stop: true, reason: decision.reason } : { kind: 'pass-done', stop: false });
      if (decision.stop) this.#stopReason = decision.reason;
    }
  }

  async #pauseAndFinish(connection: TargetConnection): Promise<void> {
    const options = this.#options;
    if (this.#phase.name !== 'pausing') throw new FerryError(ErrorCode.Internal, `pre-copy ended in phase ${this.#phase.name}`);
    const finalPass = this.#phase.pass;
    this.#pausedAt = performance.now();
    await this.#context.hooks.pause();
    this.#advance({ kind: 'paused' });
    this.#context.onEvent?.({ event: 'paused', pass: finalPass, reason: this.#stopReason ?? '' });
    await this.#sender!.control({ type: MessageType.Paused });
    const final = await this.#pass(finalPass, true);
    this.#log.info({ ...final }, 'final pass done');
    this.#context.onEvent?.({ event: 'pass-end', ...final, bandwidth: rate(final.bytesSent, final.durationMs), stop: true, final: true });
    this.#advance({ kind: 'final-pass-done' });

    const stateDir = await mkdtemp(join(tmpdir(), 'ferry-state-'));
    try {
      const produced = await this.#context.hooks.collectState(stateDir);
      const sent = await sendStateBlobs(connection, [...options.stateFiles, ...produced], this.#hasher!, (name, bytes) =>
        this.#context.onEvent?.({ event: 'state', name, bytes }));
      this.#sender!.bytesSent += sent;
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
    this.#advance({ kind: 'state-sent' });

    let nextPass = finalPass + 1;
    await verifyImages({
      connection,
      hasher: this.#hasher!,
      pools: this.#pools,
      imageNames: this.#images.map((i) => i.name),
      replyTimeoutMs: options.replyTimeoutMs,
      retries: options.verifyRetries,
      resend: async (scope: PassScope) => { await this.#pass(nextPass++, true, scope); },
      onResult: (image, ok, mismatchedPages) => {
        if (!ok) this.#log.warn({ image, mismatchedPages }, 'verify mismatch; re-sending those pages');
        this.#context.onEvent?.({ event: 'verify', image, ok, mismatchedPages });
      },
    });
    this.#advance({ kind: 'verified' });

    await connection.expect([MessageType.CommitReady], options.replyTimeoutMs, 'the verified images (COMMIT_READY)');
    this.#context.onEvent?.({ event: 'commit-ready' });
    // The phase moves first: once GO may have left, a failure must never resume the source.
    this.#advance({ kind: 'commit-ready' });
    await connection.sendControl({ type: MessageType.Go });
    this.#context.onEvent?.({ event: 'go' });
    await connection.expect([MessageType.Resumed], options.replyTimeoutMs, 'GO (RESUMED)');
    this.#pauseMs = performance.now() - this.#pausedAt;
    this.#advance({ kind: 'resumed' });
    this.#context.onEvent?.({ event: 'resumed', pauseMs: this.#pauseMs });
    await this.#context.hooks.committed().catch((error: unknown) =>
      this.#log.warn({ err: toFerryError(error) }, 'the post-commit hook failed; the workload runs on the target'));
  }

  async #pass(pass: number, final: boolean, scope?: PassScope) {
    this.#context.onEvent?.({ event: 'pass-begin', pass, final });
    this.#passStartedAt = performance.now();
    return this.#sender!.sendPass(pass, scope);
  }

  async #afterFailure(error: FerryError): Promise<void> {
    if (this.#phase.name === 'unknown') {
      this.#log.error({ err: error }, 'GO was sent but RESUMED never came: the outcome is unknown; the source stays paused');
      return;
    }
    this.#log.warn({ err: error }, 'migration failed before GO: rolling back');
    this.#context.onEvent?.({ event: 'rollback', code: error.code, reason: error.message });
    await this.#connection?.abort(`${error.code}: ${error.message}`);
    await this.#context.hooks.resume();
  }

  #advance(event: PhaseEvent): void {
    const before = this.#phase.name;
    this.#phase = step(this.#phase, event);
    if (this.#phase.name !== before) this.#log.debug({ from: before, to: this.#phase.name }, 'phase');
  }

  /** Ctrl-C and --on-timeout cancel must also interrupt a wait on the target or a hook. */
  #interruptible<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.#cancelled]);
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
        this.#cancel(new FerryError(ErrorCode.Timeout, `the migration did not converge within ${seconds} s and was cancelled (--on-timeout cancel); the workload keeps running on the source`));
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
      bytesSent: sender.bytesSent,
      pagesSent: sender.totals.pagesSent,
      bytesApplied: this.#bytesApplied,
      rate: this.#history.at(-1)?.bandwidth ?? 0,
      imageBytes: this.#imageBytes,
      passFraction: fraction,
      ...(this.#tracking.active ? { diskBytesSent: Object.values(this.#diskSummaries()).reduce((sum, d) => sum + d.bytesSent, 0) } : {}),
      // The running pass's end, extrapolated from how far its scan got.
      ...(fraction > 0.02 && fraction < 1 ? { passEtaMs: Math.round(((performance.now() - this.#passStartedAt) * (1 - fraction)) / fraction) } : {}),
    });
  }

  #summary(totalMs: number, error: FerryError | undefined): MigrationSummary {
    const phase = this.#phase.name;
    return summarize({
      result: phase === 'done' ? 'committed' : phase === 'unknown' ? 'unknown' : 'rolled-back',
      migrationId: this.#options.migrationId, totalMs, pauseMs: this.#pauseMs, imageBytes: this.#imageBytes,
      bytesSent: this.#sender?.bytesSent ?? 0, totals: this.#sender?.totals, history: this.#history,
      paused: this.#pausedAt !== undefined, stopReason: this.#stopReason, error, disks: this.#diskSummaries(),
    });
  }

  /** Bytes and passes of each image a dirty tracker follows (guest disks). */
  #diskSummaries(): Record<string, DiskSummary> {
    const disks: Record<string, DiskSummary> = {};
    const passes = this.#tracking.passesRead();
    this.#images.forEach((image, index) => {
      const read = passes[index];
      if (read !== undefined) disks[image.name] = { bytesSent: this.#sender?.imageBytesSent[index] ?? 0, passes: read };
    });
    return disks;
  }
}
