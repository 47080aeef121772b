import { ErrorCode, FerryError, toFerryError } from '@ferry/protocol';
import { createPageHasher, type ScanPool } from '@ferry/pages';
import { checkStateFiles, describeImages } from './images.js';
import { TargetConnection } from './connection.js';
import { summarize, type MigrationSummary } from './events.js';
import { MigrationJournal } from './journal.js';
import { MigrationRun, type MigrateContext } from './migration-run.js';
import type { MigrateOptions } from './options.js';
import { connectOptionsFor, startPools } from './setup.js';
import { Transfer } from './transfer.js';

export type { MigrateContext } from './migration-run.js';

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
  return new Migration(new MigrationRun(options, context, images, journal)).run();
}

/**
 * A migration that connects: it opens the scan pools and the connection, hands both to a `Transfer`
 * (which runs every phase from the handshake on), and ends the run: a rollback when anything failed
 * before GO, the summary, and releasing what it opened. Cancellation is one AbortSignal (MigrationRun's
 * `cancel`) handed to every hook, pass and wait.
 */
class Migration {
  readonly #run: MigrationRun;
  readonly #pools: ScanPool[] = [];

  constructor(run: MigrationRun) {
    this.#run = run;
  }

  async run(): Promise<MigrationSummary> {
    const run = this.#run;
    const started = performance.now();
    const userCancel = (): void => run.cancel.abort(new FerryError(ErrorCode.Aborted, 'cancelled by the user'));
    run.context.signal?.addEventListener('abort', userCancel, { once: true });
    if (run.context.signal?.aborted) userCancel();
    const timeout = this.#startTimeout();
    let transfer: Transfer | undefined;
    let error: FerryError | undefined;
    try {
      transfer = await this.#connect(run.cancel.signal);
      await transfer.run();
    } catch (thrown) {
      error = toFerryError(thrown);
      // Full speed before the rollback's resume hook; after the pause this only lifts limits like cpu.max.
      await run.convergence.restore();
      run.advance({ kind: 'failed', error });
      await this.#afterFailure(error, transfer);
    } finally {
      if (timeout) clearTimeout(timeout);
      await run.convergence.restore();
      run.context.signal?.removeEventListener('abort', userCancel);
      await Promise.allSettled(this.#pools.map((pool) => pool.close()));
      await run.tracking.close();
      transfer?.close();
    }
    // An unknown outcome keeps its journal: `ferry recover` must be able to say GO was sent.
    if (run.phase.name !== 'unknown') run.journal?.remove();
    return this.#summary(performance.now() - started, error, transfer);
  }

  /** The connecting phase: scan pools, the page hasher and the connection, which the transfer then owns. */
  async #connect(signal: AbortSignal): Promise<Transfer> {
    const run = this.#run;
    this.#pools.push(...(await startPools(run.options, run.images)));
    const hasher = await createPageHasher();
    const connecting = performance.now();
    const connection = await TargetConnection.connect(connectOptionsFor(run.options, run.meter), signal);
    // TCP connect and the WebSocket upgrade: two round trips, near enough; pings after each pass refine it.
    run.convergence.roundTripSample((performance.now() - connecting) / 2);
    run.advance({ kind: 'connected' });
    return new Transfer(run, connection, this.#pools, hasher);
  }

  async #afterFailure(error: FerryError, transfer: Transfer | undefined): Promise<void> {
    const run = this.#run;
    if (run.phase.name === 'unknown') {
      run.log.error({ err: error }, 'GO was sent but RESUMED never came: the outcome is unknown; the source stays paused');
      return;
    }
    run.log.warn({ err: error }, 'migration failed before GO: rolling back');
    run.emit({ event: 'rollback', code: error.code, reason: error.message });
    await transfer?.abandon(error);
    await run.context.hooks.resume();
    run.pause.unpause();
  }

  #startTimeout(): NodeJS.Timeout | undefined {
    const run = this.#run;
    const { timeoutMs, onTimeout } = run.options;
    if (timeoutMs === undefined) return undefined;
    return setTimeout(() => {
      const phase = run.phase.name;
      if (phase !== 'precopy' && phase !== 'connecting' && phase !== 'handshake') return;
      const seconds = Math.round(timeoutMs / 1000);
      if (onTimeout === 'force') {
        run.forceStop = `timeout: pre-copy ran ${seconds} s; pausing anyway (--on-timeout force)`;
        run.log.warn(run.forceStop);
      } else {
        run.cancel.abort(new FerryError(ErrorCode.Timeout, `the migration did not converge within ${seconds} s and was cancelled (--on-timeout cancel); the workload keeps running on the source`));
      }
    }, timeoutMs);
  }

  #summary(totalMs: number, error: FerryError | undefined, transfer: Transfer | undefined): MigrationSummary {
    const run = this.#run;
    const phase = run.phase.name;
    const figures = transfer?.figures;
    return summarize({
      result: phase === 'done' ? 'committed' : phase === 'unknown' ? 'unknown' : 'rolled-back',
      migrationId: run.options.migrationId, totalMs, pauseMs: run.pause.ms, imageBytes: run.imageBytes,
      bytesSent: run.meter.bytes, totals: figures?.sender.totals, history: run.history,
      paused: run.pause.paused, stopReason: figures?.stopReason, error, disks: run.diskSummaries(figures?.sender),
      finalPass: figures?.finalPass, dirtyLog: this.#dirtyLogs(), pauseTimeline: run.pause.timeline(), pacing: figures?.pacing,
    });
  }

  /** How each image's dirty pages were found, and why that way. */
  #dirtyLogs(): Record<string, { method: string; reason: string }> {
    const { tracking, images, context } = this.#run;
    const described = tracking.describe();
    return Object.fromEntries(images.map((image, index) => [image.name, described[index] ?? {
      method: tracking.trackedImages().includes(index) ? 'tracker' : 'hash',
      reason: context.hashReasons?.get(image.name) ?? 'every page is read and hashed each pass',
    }]));
  }
}
