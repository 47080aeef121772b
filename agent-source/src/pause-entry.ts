import type { TargetConnection } from './connection.js';
import type { LinkPacing } from './link-pacing.js';
import type { MigrationRun } from './migration-run.js';
import { bytesHiddenByFinalScan, finalScanHides, passWhileDraining, type InFlight, type StopDecision } from './policies.js';

/** What a pre-copy pass ends with: the policy's decision, or its stop put off by a pass while the link drains. */
export type PassDecision = StopDecision | { readonly stop: false; readonly deferredStop: string };

/** A pass-end event's word on it: the reason pre-copy stops, or the stop that was put off. */
export function whyItEnded(decision: PassDecision): { reason: string } | { deferredStop: string } | Record<string, never> {
  if (decision.stop) return { reason: decision.reason };
  return 'deferredStop' in decision ? { deferredStop: decision.deferredStop } : {};
}

/**
 * When the pause may come, as far as the link is concerned: the I/O side of `passWhileDraining` and
 * `finalScanHides` (policies.ts). Pre-copy bytes still in flight that the final scan cannot hide would be
 * paid for inside the pause, so a stop is put off by a pass while they drain, and at the pause the
 * workload runs until they have reached the target (a round trip behind them). What the link carries
 * during the final scan is not waited for: the workload would only dirty more pages meanwhile, for the
 * final pass to send.
 */
export class PauseEntry {
  readonly #run: MigrationRun;
  readonly #pacing: LinkPacing;
  /** Passes run because the policy stopped while the link still held more than the final scan hides. */
  #drainPasses = 0;

  constructor(run: MigrationRun, pacing: LinkPacing) {
    this.#run = run;
    this.#pacing = pacing;
  }

  /** The stop policy's decision, or one more pass while the link drains (with the stop it put off). */
  afterPass(decision: StopDecision, forced: boolean): PassDecision {
    const inFlight = this.#inFlight();
    if (!decision.stop || !passWhileDraining(decision, this.#run.history, inFlight, this.#drainPasses, forced)) return decision;
    this.#drainPasses++;
    this.#run.log.debug({ ...inFlight, hidden: Math.round(bytesHiddenByFinalScan(this.#run.history)) }, 'one more pass while the link drains');
    return { stop: false, deferredStop: decision.reason };
  }

  /** Resolves once the workload may be paused: at once when the final scan hides what is in flight. */
  async drain(connection: TargetConnection, signal: AbortSignal): Promise<void> {
    const { options, log, history } = this.#run;
    const inFlight = this.#inFlight();
    const hidden = Math.round(bytesHiddenByFinalScan(history));
    if (finalScanHides(history, inFlight)) {
      log.debug({ ...inFlight, hidden }, 'the final scan hides the pre-copy bytes still in flight');
      return;
    }
    const draining = performance.now();
    await connection.drained(options.replyTimeoutMs, signal);
    log.debug({ ...inFlight, hidden, durationMs: Math.round(performance.now() - draining) }, 'pre-copy bytes reached the target');
  }

  #inFlight(): InFlight {
    return { queuedBytes: this.#pacing.unacknowledged, caughtUp: this.#run.convergence.pingAnswered };
  }
}
