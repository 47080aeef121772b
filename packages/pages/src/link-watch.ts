/**
 * Whether saving bytes pays right now: LZ4 (in `auto` mode) and filling the delta cache during pass 0
 * cost CPU on both ends for every page, and they win only when the wire, not a CPU, is the bottleneck.
 *
 * A full socket queue alone does not say that: on a fast link with a busy receiver (loopback, where both
 * agents share the cores) the queue fills too, and turning compression and caching on there only slows
 * both sides down and holds hundreds of MB of cache that no later delta uses. So the link counts as the
 * bottleneck only while the queue is full AND the bytes leaving the queue run slower than
 * SLOW_LINK_BYTES_PER_SECOND, below which a page's time on the wire exceeds its LZ4 time on one core.
 */
export const SLOW_LINK_BYTES_PER_SECOND = 125_000_000;
/** Queue levels with hysteresis: above FULL the link may be the bottleneck, below EMPTY it is not. */
const QUEUE_FULL_BYTES = 4 * 1024 * 1024;
const QUEUE_EMPTY_BYTES = 256 * 1024;
/**
 * The drain rate is measured over windows this long: shorter ones see TCP's bursts and a loaded host's
 * stalls, not the link (250 ms windows turned caching on and off on loopback and filled 70 MB anyway).
 */
const WINDOW_MS = 1000;

export class LinkWatch {
  readonly #now: () => number;
  #windowStart: number;
  #windowBytes = 0;
  /** Bytes per second that left the queue in the last full window; undefined before the first. */
  #drainRate: number | undefined;
  #bound = false;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
    this.#windowStart = now();
  }

  get drainRate(): number | undefined {
    return this.#drainRate;
  }

  /**
   * Called after each batch is queued: `queued` is the socket's queue now, `drained` the bytes that left
   * it since the previous call. Returns whether the link is the bottleneck.
   */
  update(queued: number, drained: number): boolean {
    this.#windowBytes += drained;
    const now = this.#now();
    if (now - this.#windowStart >= WINDOW_MS) {
      this.#drainRate = (this.#windowBytes * 1000) / (now - this.#windowStart);
      this.#windowStart = now;
      this.#windowBytes = 0;
    }
    const slow = this.#drainRate !== undefined && this.#drainRate < SLOW_LINK_BYTES_PER_SECOND;
    if (queued > QUEUE_FULL_BYTES && slow) this.#bound = true;
    else if (queued < QUEUE_EMPTY_BYTES || !slow) this.#bound = false;
    return this.#bound;
  }
}
