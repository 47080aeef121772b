/**
 * Paces the page stream to the link it measures, after BBR (Cardwell et al., "BBR: Congestion-Based
 * Congestion Control", ACM Queue 2016): the bottleneck's delivery rate is the most the target has been
 * seen to receive per second (a windowed max over recent round trips), the path's round trip the least
 * an ACK took to come back (a windowed min), and their product the bytes the path holds without a queue.
 * Messages go out at about that rate and never more than `cwndGain` times those bytes are in flight, so
 * a slow link's queues (socket buffers, a shaper, a proxy) stay short, and a pause does not begin behind
 * seconds of pre-copy bytes. Now and then the pace rises by a quarter for one round trip: if the link
 * delivers more, the estimate follows; if not, the next stretch at three quarters drains what it queued.
 * Every ten seconds the window shrinks to its floor for a round trip, so the least round trip is measured
 * without a queue of our own ahead of it.
 *
 * Pure: no timers and no sockets. Times are milliseconds from the injected clock; byte offsets are the
 * source's count of bytes sent (acknowledgements are lined up with it by the caller).
 */

/** Startup's gain, 2/ln 2: the smallest that doubles the delivery rate every round trip. */
const STARTUP_GAIN = 2 / Math.LN2;
/** The steady state's cycle of pacing gains, one round trip each: probe up, drain, cruise. */
const PROBE_GAINS = [1.25, 0.75, 1, 1, 1, 1, 1, 1] as const;
const CRUISE_PHASE = 2;
const CWND_GAIN = 2;
/**
 * Round trips the delivery-rate max looks back over, counted in rounds of ACKs and in time (ten least
 * round trips, at least RATE_WINDOW_MIN_MS): a queue stretches rounds, and a link that slowed down
 * must not be paced at its old rate for ten of those.
 */
const RATE_WINDOW_ROUNDS = 10;
const RATE_WINDOW_MIN_MS = 2000;
/** How long a round-trip minimum stands; then the window shrinks to its floor (PROBE_RTT_MS, a round at least) to measure it again. */
const RTT_WINDOW_MS = 10_000;
const PROBE_RTT_MS = 200;
/**
 * The window also holds this long of the delivery rate: BBR's allowance for ACKs that come in bursts, at
 * its 100 ms cap. A receiver on a busy host (loopback, a fast LAN) runs in slices of a CPU and answers in
 * bursts; a window of a few messages would leave it idle between them. A slow link's allowance is small.
 */
const AGGREGATION_MS = 100;
/** Startup ends once three round trips in a row raised the rate by less than a quarter: the pipe is full. */
const FULL_PIPE_GROWTH = 1.25;
const FULL_PIPE_ROUNDS = 3;

export type PacerMode = 'startup' | 'drain' | 'probe' | 'probe-rtt';

/** Where the pacer stands, for logs and the summary. */
export interface PacerState {
  readonly mode: PacerMode;
  /** Bytes per second the target was seen to receive at best (the estimate of the bottleneck). */
  readonly deliveryRate: number | undefined;
  readonly minRttMs: number | undefined;
  /** Bytes per second messages go out at now (gain times the delivery rate). */
  readonly pacingRate: number | undefined;
  /** The most bytes in flight (sent, not yet acknowledged) allowed now. */
  readonly windowBytes: number;
  readonly inFlight: number;
}

interface Sent {
  /** The source's count of bytes sent once this message was handed over. */
  readonly end: number;
  readonly at: number;
  /** What had been acknowledged, and when, as this message left: its delivery-rate sample runs from there. */
  readonly delivered: number;
  readonly deliveredAt: number;
  /** When the newest message acknowledged by then had been sent: the sample's sending interval starts there. */
  readonly firstSentAt: number;
  /** The scanner, not the pacer, held it back: its rate sample may say little about the link. */
  readonly appLimited: boolean;
}

export class Pacer {
  readonly #now: () => number;
  readonly #minWindow: number;
  #mode: PacerMode = 'startup';
  readonly #inFlightLog: Sent[] = [];
  #sentEnd = 0;
  #delivered = 0;
  #deliveredAt: number;
  /** When the newest acknowledged message had been sent. */
  #firstSentAt: number;
  /** Best delivery-rate sample of each recent round, newest last. */
  #rates: Array<{ round: number; at: number; rate: number }> = [];
  /** In probe-rtt: when it may end (and the round it must see end), and the mode to go back to. */
  #probeRtt: { until: number; round: number; back: PacerMode } | undefined;
  #minRtt: { ms: number; at: number } | undefined;
  #round = 0;
  /** The round ends when this much has been acknowledged (what was sent as it began). */
  #roundEnd = 0;
  #fullRate = 0;
  #fullRounds = 0;
  #phase = CRUISE_PHASE;
  #phaseStart = 0;
  /** Earliest time the next message may go at the pacing rate. */
  #nextSendAt = 0;

  /** `minWindowBytes`: what the window holds beyond the pipe (two messages and the target's ACK spacing, at least). */
  constructor(minWindowBytes: number, now: () => number = () => performance.now()) {
    if (!(minWindowBytes > 0)) throw new RangeError(`the pacer's window must be positive, got ${minWindowBytes}`);
    this.#minWindow = minWindowBytes;
    this.#now = now;
    this.#deliveredAt = now();
    this.#firstSentAt = this.#deliveredAt;
  }

  get inFlight(): number {
    return this.#sentEnd - this.#delivered;
  }

  get state(): PacerState {
    return {
      mode: this.#mode, deliveryRate: this.#rate(), minRttMs: this.#minRtt?.ms,
      pacingRate: this.#pacingRate(), windowBytes: this.#window(), inFlight: this.inFlight,
    };
  }

  /**
   * How long (ms) a message of `bytes` must wait before it goes: 0 now, a delay to keep the pace, or
   * Infinity while the window is full (wait for an ACK). A message always goes when nothing is in flight.
   */
  delay(bytes: number): number {
    if (this.inFlight > 0 && this.inFlight + bytes > this.#window()) return Number.POSITIVE_INFINITY;
    return Math.max(0, this.#nextSendAt - this.#now());
  }

  /**
   * Counts `bytes` handed to the socket. `appLimited`: the message did not have to wait for the pacer (the
   * scanner was slower), or the pacer was not asked (control messages, state blobs: in flight all the same).
   */
  sent(bytes: number, appLimited: boolean): void {
    const now = this.#now();
    // After an idle spell the next rate sample starts now, not at the last ACK before the spell.
    if (this.inFlight === 0) this.#deliveredAt = this.#firstSentAt = now;
    this.#sentEnd += bytes;
    this.#inFlightLog.push({ end: this.#sentEnd, at: now, delivered: this.#delivered, deliveredAt: this.#deliveredAt, firstSentAt: this.#firstSentAt, appLimited });
    const rate = this.#pacingRate();
    if (rate === undefined) return;
    // A timer that fires late (a busy host) must not lower the pace: up to one message's lateness is made up.
    const interval = (bytes * 1000) / rate;
    this.#nextSendAt = Math.max(this.#nextSendAt, now - interval) + interval;
  }

  /**
   * The target has received `offset` bytes of what was sent (its ACK, on the source's count). An offset
   * behind the last one or beyond what was sent (a confused or hostile target) changes nothing.
   */
  acked(offset: number): void {
    if (!(offset > this.#delivered) || offset > this.#sentEnd) return;
    const now = this.#now();
    let oldest: Sent | undefined;
    let newest: Sent | undefined;
    while (this.#inFlightLog.length > 0 && this.#inFlightLog[0]!.end <= offset) {
      newest = this.#inFlightLog.shift();
      oldest ??= newest;
    }
    this.#delivered = offset;
    this.#deliveredAt = now;
    if (newest === undefined || oldest === undefined) return;
    this.#firstSentAt = newest.at;
    // The oldest message this ACK covers is the one it answers: the target counts what has arrived, so a
    // message that came in while it handled the one before is covered too, sooner than its own round trip.
    const rttExpired = this.#sampleRtt(now - oldest.at, now);
    // The longer of the ACK interval and the send interval: ACKs that bunch up (a burst let through, a
    // busy target answering late) must not make the link look faster than the bytes were offered to it.
    const elapsed = Math.max(now - newest.deliveredAt, newest.at - newest.firstSentAt);
    if (elapsed > 0) this.#sampleRate(((offset - newest.delivered) * 1000) / elapsed, newest.appLimited, now);
    const roundStarted = offset >= this.#roundEnd;
    if (roundStarted) {
      this.#round++;
      this.#roundEnd = this.#sentEnd;
    }
    if (rttExpired && this.#mode !== 'probe-rtt') {
      this.#probeRtt = { until: now + PROBE_RTT_MS, round: this.#round + 1, back: this.#mode === 'startup' ? 'startup' : 'probe' };
      this.#mode = 'probe-rtt';
    }
    this.#advanceMode(roundStarted && !newest.appLimited, now);
  }

  /** Keeps the least round trip; true when the one kept had expired (time to measure it with an empty queue). */
  #sampleRtt(ms: number, now: number): boolean {
    const expired = this.#minRtt !== undefined && now - this.#minRtt.at > RTT_WINDOW_MS;
    if (this.#minRtt === undefined || ms <= this.#minRtt.ms || expired) this.#minRtt = { ms, at: now };
    return expired;
  }

  /**
   * Keeps the best sample of each round over the last RATE_WINDOW_ROUNDS. A sample taken while the scanner
   * was the bottleneck counts only if it beats the estimate: it shows what the link did, not what it can.
   * Old rounds leave the window only when a new sample arrives, so an idle spell forgets nothing.
   */
  #sampleRate(rate: number, appLimited: boolean, now: number): void {
    const current = this.#rate();
    if (appLimited && current !== undefined && rate < current) return;
    const windowMs = Math.max(RATE_WINDOW_MIN_MS, RATE_WINDOW_ROUNDS * (this.#minRtt?.ms ?? 0));
    this.#rates = this.#rates.filter((r) => this.#round - r.round < RATE_WINDOW_ROUNDS && now - r.at < windowMs);
    const last = this.#rates.at(-1);
    if (last?.round === this.#round) last.rate = Math.max(last.rate, rate);
    else this.#rates.push({ round: this.#round, at: now, rate });
  }

  #advanceMode(fullRound: boolean, now: number): void {
    const rate = this.#rate() ?? 0;
    switch (this.#mode) {
      case 'startup':
        if (!fullRound) return;
        if (rate >= this.#fullRate * FULL_PIPE_GROWTH) {
          this.#fullRate = rate;
          this.#fullRounds = 0;
        } else if (++this.#fullRounds >= FULL_PIPE_ROUNDS) {
          this.#mode = 'drain';
        }
        return;
      case 'drain':
        if (this.inFlight <= this.#pipeBytes()) this.#startProbing(now);
        return;
      case 'probe':
        this.#nextPhase(now);
        return;
      case 'probe-rtt': {
        const probe = this.#probeRtt;
        if (!probe || (now >= probe.until && this.#round >= probe.round)) this.#endProbeRtt(probe?.back ?? 'probe', now);
        return;
      }
    }
  }

  #endProbeRtt(back: PacerMode, now: number): void {
    this.#probeRtt = undefined;
    if (back === 'probe') this.#startProbing(now);
    else this.#mode = back;
  }

  #startProbing(now: number): void {
    this.#mode = 'probe';
    this.#phase = CRUISE_PHASE;
    this.#phaseStart = now;
  }

  /** Each phase lasts a round trip; the drain phase ends early once the queue it drains is gone. */
  #nextPhase(now: number): void {
    const rtt = this.#minRtt?.ms ?? 0;
    const gain = PROBE_GAINS[this.#phase]!;
    const drained = gain < 1 && this.inFlight <= this.#pipeBytes();
    if (now - this.#phaseStart < rtt && !drained) return;
    this.#phase = (this.#phase + 1) % PROBE_GAINS.length;
    this.#phaseStart = now;
  }

  #rate(): number | undefined {
    return this.#rates.length === 0 ? undefined : Math.max(...this.#rates.map((r) => r.rate));
  }

  #gain(): number {
    switch (this.#mode) {
      case 'startup': return STARTUP_GAIN;
      case 'drain': return 1 / STARTUP_GAIN;
      case 'probe': return PROBE_GAINS[this.#phase]!;
      case 'probe-rtt': return 1;
    }
  }

  #pacingRate(): number | undefined {
    const rate = this.#rate();
    return rate === undefined ? undefined : rate * this.#gain();
  }

  /** Rate times round trip: what the path holds without queueing. */
  #pipeBytes(): number {
    const rate = this.#rate();
    return rate === undefined || this.#minRtt === undefined ? 0 : (rate * this.#minRtt.ms) / 1000;
  }

  /**
   * Gain times the pipe, plus the floor: a message is acknowledged only once all of it arrived, so on
   * top of the pipe a message being serialised and one being acknowledged must be in flight too (BBR's
   * send quanta, in whole messages).
   */
  #window(): number {
    if (this.#mode === 'probe-rtt') return this.#minWindow;
    const gain = this.#mode === 'probe' ? CWND_GAIN : STARTUP_GAIN;
    const aggregation = ((this.#rate() ?? 0) * AGGREGATION_MS) / 1000;
    return Math.max(this.#minWindow, aggregation) + gain * this.#pipeBytes();
  }
}
