/**
 * Convergence during pre-copy, between the pure policies and the migration's I/O: after each pass it asks
 * the throttle policy for a level and the (capped) stop policy for a decision; every THROTTLE_PERIOD_MS
 * inside a pass it lets the throttle policy step; it applies levels through the ThrottleDriver seam and
 * restores full speed before the pause and on every exit. It also says why a migration converges or not:
 * dirty rate, send rate, throttle level and expected pause, and a warning before a long pause.
 */
import type { Logger } from 'pino';
import type { ConvergenceFields, SourceEvent } from '@ferry/serve';
import { estimateDowntimeMs, withDowntimeCap, type PassRecord, type PolicyContext, type StopDecision, type StopPolicy } from './policies.js';
import type { ThrottleDriver } from './throttle-driver.js';
import { FULL_SPEED, nextThrottle, THROTTLE_PERIOD_MS, type ThrottleMode, type ThrottleObservation, type ThrottleState } from './throttle-policy.js';

/** A pass "converges" for the throttle when its estimated pause fits this, without --max-downtime (QEMU's default downtime-limit). */
export const DEFAULT_PAUSE_TARGET_MS = 300;
/** Without --max-downtime, a pause expected to last longer than this is announced before it happens. */
export const LONG_PAUSE_MS = 2000;

export interface ConvergenceOptions {
  readonly policy: StopPolicy;
  readonly context: PolicyContext;
  readonly pageSize: number;
  readonly mode: ThrottleMode;
  readonly driver: ThrottleDriver | undefined;
  readonly log: Logger;
  readonly emit: (event: SourceEvent) => void;
  /** Bytes the running pre-copy pass has sent so far; undefined when none runs. */
  readonly passBytes: () => number | undefined;
}

export class Convergence {
  readonly #options: ConvergenceOptions;
  readonly #policy: StopPolicy;
  #history: readonly PassRecord[] = [];
  #state: ThrottleState = FULL_SPEED;
  #driver: ThrottleDriver | undefined;
  #applying: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #rttMs = Infinity;
  /** The newest ping sent after a pass: when, and its round trip once answered. */
  #ping: { readonly sentAt: number; ms?: number } | undefined;
  #decidedWithQueueMs: number | undefined;

  constructor(options: ConvergenceOptions) {
    this.#options = options;
    this.#policy = withDowntimeCap(options.policy);
    this.#driver = options.mode === 'auto' ? options.driver : undefined;
    if (this.#driver) {
      this.#timer = setInterval(() => this.#period(), THROTTLE_PERIOD_MS);
      this.#timer.unref();
      options.log.info({ throttle: this.#driver.name }, 'auto-converge: will throttle the workload if pre-copy does not converge');
    }
  }

  /** The round trip to the target, the least of the samples seen (a sample also holds whatever was queued). */
  get rttMs(): number {
    return Number.isFinite(this.#rttMs) ? this.#rttMs : 0;
  }

  roundTripSample(ms: number): void {
    this.#rttMs = Math.min(this.#rttMs, ms);
  }

  /**
   * A ping sent after a pass (call it after that pass's afterPass): it waits behind whatever the link
   * still holds, so the next decision learns how long the link needed to drain.
   */
  pingAfterPass(roundTrip: Promise<number>): void {
    const ping: { readonly sentAt: number; ms?: number } = { sentAt: performance.now() };
    this.#ping = ping;
    void roundTrip.then((ms) => {
      ping.ms = ms;
      this.roundTripSample(ms);
    });
  }

  /** Whether the newest ping sent after a pass has come back (the target read everything sent before it). */
  get pingAnswered(): boolean {
    return this.#ping?.ms !== undefined;
  }

  /** The queue the newest ping found, or has been waiting behind so far if unanswered. */
  #linkQueueMs(): number | undefined {
    const ping = this.#ping;
    if (ping === undefined) return undefined;
    return Math.max(0, (ping.ms ?? performance.now() - ping.sentAt) - this.rttMs);
  }

  /** After each pre-copy pass: step the throttle, then decide whether to pause. */
  afterPass(history: readonly PassRecord[]): StopDecision {
    this.#history = history;
    const context = this.#context();
    this.#decidedWithQueueMs = context.linkQueueMs;
    const expected = estimateDowntimeMs(history, this.rttMs);
    const target = context.maxDowntimeMs ?? DEFAULT_PAUSE_TARGET_MS;
    const throttled = this.#state.level > 0;
    this.#observe({ kind: 'pass-end', history, converged: expected <= target });
    const policy = this.#policy(history, context);
    // The throttle did its job: every further pass only slows the workload longer.
    const decision: StopDecision = !policy.stop && throttled && expected <= target
      ? { stop: true, reason: `auto-converge: the throttled workload's pause fits (${Math.round(expected)} ms <= ${target} ms)` }
      : policy;
    if (decision.stop && context.maxDowntimeMs === undefined && expected > LONG_PAUSE_MS) {
      this.#announce(expected, `${decision.reason}; no --max-downtime was given`);
    }
    return decision;
  }

  /** --on-timeout force: pause now, saying how long the pause is expected to last. */
  forced(history: readonly PassRecord[], why: string): StopDecision {
    this.#history = history;
    const expected = estimateDowntimeMs(history, this.rttMs);
    const reason = Number.isFinite(expected) ? `${why}; expected pause ${Math.round(expected)} ms` : why;
    this.#announce(expected, reason);
    return { stop: true, reason };
  }

  fields(): ConvergenceFields {
    const history = this.#history;
    const last = history.at(-1);
    const before = history.at(-2);
    const expected = estimateDowntimeMs(history, this.rttMs);
    return {
      ...(last && before && before.durationMs > 0 ? { dirtyRate: Math.round((last.dirtyPages * this.#options.pageSize * 1000) / before.durationMs) } : {}),
      ...(last ? { sendRate: Math.round(last.bandwidth) } : {}),
      throttle: this.#state.level,
      ...(Number.isFinite(expected) ? { expectedPauseMs: Math.round(expected) } : {}),
      rttMs: this.rttMs,
      ...(this.#decidedWithQueueMs !== undefined ? { linkQueueMs: this.#decidedWithQueueMs } : {}),
    };
  }

  /** Right before the pause hook: no more steps, the workload left as it is for the hook to stop. */
  async hold(): Promise<void> {
    this.#stopPeriods();
    await this.#applying;
    await this.#driver?.hold().catch((error: unknown) => this.#options.log.warn({ err: String(error) }, 'could not end the throttle cycle'));
    if (this.#state.level > 0) this.#options.emit({ event: 'throttle', level: 0, reason: 'the pause takes over' });
    this.#state = FULL_SPEED;
  }

  /** Full speed: on a rollback (before the resume hook) and at the end of every migration. */
  async restore(): Promise<void> {
    this.#stopPeriods();
    await this.#applying;
    const driver = this.#driver;
    this.#driver = undefined;
    if (driver === undefined) return;
    await driver.restore().catch((error: unknown) => this.#options.log.warn({ err: String(error), throttle: driver.name }, 'could not restore full speed'));
    if (this.#state.level > 0) this.#options.emit({ event: 'throttle', level: 0, reason: 'the migration ended' });
    this.#state = FULL_SPEED;
  }

  #stopPeriods(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #context(): PolicyContext {
    return { ...this.#options.context, rttMs: this.rttMs, linkQueueMs: this.#linkQueueMs() };
  }

  #period(): void {
    const passBytes = this.#options.passBytes();
    if (passBytes === undefined) return;
    this.#observe({ kind: 'period', history: this.#history, passBytes });
  }

  #observe(observation: ThrottleObservation): void {
    const driver = this.#driver;
    if (driver === undefined) return;
    const before = this.#state.level;
    this.#state = nextThrottle(this.#state, observation);
    const { level, reason } = this.#state;
    if (level === before) return;
    this.#options.log.info({ throttle: driver.name, level, reason }, 'auto-converge');
    this.#options.emit({ event: 'throttle', level, reason });
    this.#applying = this.#applying.then(() => driver.set(level)).catch((error: unknown) => {
      this.#options.log.warn({ err: String(error), throttle: driver.name }, 'the throttle failed; pre-copy goes on without it');
      this.#driver = undefined;
      this.#state = FULL_SPEED;
      return driver.restore().catch(() => undefined);
    });
  }

  #announce(expectedMs: number, reason: string): void {
    const expectedPauseMs = Number.isFinite(expectedMs) ? Math.round(expectedMs) : -1;
    this.#options.log.warn({ expectedPauseMs, reason }, `the workload will pause for about ${expectedPauseMs} ms`);
    this.#options.emit({ event: 'long-pause', expectedPauseMs, reason });
  }
}
