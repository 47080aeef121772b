import { PAGES_BATCH_BYTES } from '@ferry/protocol';
import type { Logger } from 'pino';
import type { PacingSummary } from '@ferry/serve';
import { delay } from './abort.js';
import type { TargetConnection } from './connection.js';
import type { MigrateOptions } from './options.js';
import { Pacer } from './pacer.js';
import { RateLimiter } from './rate-limiter.js';
import type { AckCadence } from './resume.js';
import type { SendMeter } from './send-meter.js';

/** What holds a batch back: --rate-limit's bucket when given, else the pacer (itself off with --no-pacing). */
export function paceFor(options: MigrateOptions, meter: SendMeter, log: Logger): { limiter: RateLimiter | undefined; pacing: LinkPacing } {
  const limiter = options.rateLimitBytesPerSec ? new RateLimiter(options.rateLimitBytesPerSec) : undefined;
  const off = limiter ? '--rate-limit sets the pace' : options.pacing ? undefined : 'turned off (--no-pacing)';
  return { limiter, pacing: new LinkPacing(meter, log, options.replyTimeoutMs, off) };
}

const round = (n: number, decimals = 0): number => Math.round(n * 10 ** decimals) / 10 ** decimals;

/**
 * The pacer (pacer.ts) at the edge: it lines the target's ACKs up with the bytes sent on the connection
 * of the moment, tells the pacer of every byte the meter counts as it counts it (control messages and
 * state blobs are in flight too), and makes a batch wait for its pace or for an ACK. A new connection
 * starts a new pacer: what the old one had in flight is gone, and the path may be another. With pacing
 * off (`offReason`) it still counts what is in flight, for the summary.
 */
export class LinkPacing {
  readonly #log: Logger;
  readonly #replyTimeoutMs: number;
  readonly #offReason: string | undefined;
  #connection: TargetConnection | undefined;
  #pacer: Pacer | undefined;
  #cadence: AckCadence | undefined;
  /** Whether the batch about to be counted waited for the pacer. */
  #nextWaited = false;
  /** The target's count in its last ACK on this connection, lined up with the meter (acks.sent + what arrived). */
  #acknowledged = 0;
  #queuedAtPause: number | undefined;
  #windowAtPause: number | undefined;
  #unavailable: string;

  /** `offReason`: why not to pace (--no-pacing, --rate-limit); undefined to pace whenever the target allows. */
  constructor(meter: SendMeter, log: Logger, replyTimeoutMs: number, offReason?: string) {
    meter.onCount = (bytes) => this.#counted(bytes);
    this.#log = log;
    this.#replyTimeoutMs = replyTimeoutMs;
    this.#offReason = offReason;
    this.#unavailable = offReason ?? 'no connection yet';
  }

  /** Bytes sent on this connection and not yet acknowledged (undefined when the target does not say). */
  get unacknowledged(): number | undefined {
    if (!this.#connection || !this.#cadence) return undefined;
    return Math.max(0, this.#connection.bytesSent - this.#acknowledged);
  }

  /** Bytes the socket queue and the link hold that LinkWatch should see as queued: in flight, while pacing held a batch back. */
  get inFlight(): number {
    return this.#pacer?.inFlight ?? 0;
  }

  /**
   * The link's rate in bytes per second, once the pacer's startup has found the pipe full: before that its
   * measure is a lower bound (the first samples on loopback read tens of MB/s). Undefined until then, and
   * when not pacing.
   */
  get linkRate(): number | undefined {
    const state = this.#pacer?.state;
    return state && state.mode !== 'startup' ? state.deliveryRate : undefined;
  }

  /** The pre-copy is over: what is still in flight now is what the pause waits behind. */
  preCopyEnded(): void {
    this.#queuedAtPause = this.unacknowledged;
    this.#windowAtPause = this.#pacer?.state.windowBytes;
  }

  get summary(): PacingSummary {
    const queued = {
      ...(this.#queuedAtPause === undefined ? {} : { queuedAtPause: this.#queuedAtPause }),
      ...(this.#windowAtPause === undefined ? {} : { windowAtPause: Math.round(this.#windowAtPause) }),
    };
    if (!this.#pacer) return { state: 'off', reason: this.#unavailable, ...queued };
    const { mode, deliveryRate, minRttMs, pacingRate, windowBytes } = this.#pacer.state;
    return {
      state: 'on', mode,
      ...(deliveryRate === undefined ? {} : { deliveryRate: round(deliveryRate) }),
      ...(minRttMs === undefined ? {} : { minRttMs: round(minRttMs, 1) }),
      ...(pacingRate === undefined ? {} : { pacingRate: round(pacingRate) }),
      windowBytes: round(windowBytes), ...queued,
    };
  }

  /** A (new) connection, and how its target ACKs: without a cadence (an older target) there is nothing to pace on. */
  connected(connection: TargetConnection, acks: AckCadence | undefined): void {
    this.#connection = connection;
    this.#cadence = acks;
    this.#pacer = undefined;
    if (!acks) {
      this.#unavailable = this.#offReason ?? 'the target does not report what it received (an older ferry)';
      this.#log.info(`${this.#unavailable}; not pacing`);
      return;
    }
    this.#acknowledged = acks.sent;
    // Two messages keep the link busy while one is acknowledged; the target's ACK spacing must fit, or
    // a full window could wait for an ACK that only more bytes would bring.
    if (this.#offReason === undefined) this.#pacer = new Pacer(2 * PAGES_BATCH_BYTES + acks.everyBytes);
  }

  /** An ACK from `connection`: `bytesReceived` is the session's count. */
  acked(connection: TargetConnection, bytesReceived: number): void {
    if (connection !== this.#connection || !this.#cadence) return;
    this.#acknowledged = Math.max(this.#acknowledged, this.#cadence.sent + bytesReceived - this.#cadence.received);
    this.#pacer?.acked(bytesReceived - this.#cadence.received);
  }

  /**
   * Resolves when a batch of `bytes` may go; true when it had to wait (the link, not the scanner, set the
   * pace). The next message the meter counts is taken to be that batch.
   */
  async ready(bytes: number, signal: AbortSignal): Promise<boolean> {
    const pacer = this.#pacer;
    const connection = this.#connection;
    if (!pacer || !connection) return false;
    let waited = false;
    for (let ms = pacer.delay(bytes); ms > 0; ms = pacer.delay(bytes)) {
      waited = true;
      if (ms === Number.POSITIVE_INFINITY) await connection.nextAck(this.#replyTimeoutMs, signal);
      else await delay(ms, signal);
      if (this.#pacer !== pacer) return waited; // reconnected meanwhile: the sender finds out on its send
    }
    this.#nextWaited = waited;
    return waited;
  }

  /** Every message the meter counts is in flight from now; only a batch the pacer held back says the link set the pace. */
  #counted(bytes: number): void {
    this.#pacer?.sent(bytes, !this.#nextWaited);
    this.#nextWaited = false;
  }
}
