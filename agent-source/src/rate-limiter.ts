/**
 * A token bucket for --rate-limit. The clock is injected so the arithmetic is testable without waiting.
 * The burst is small (50 ms of rate, at least one message) so that the long-run rate holds within a few
 * percent over any window of a second or more.
 */
export class RateLimiter {
  readonly #bytesPerSecond: number;
  readonly #burstBytes: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  constructor(bytesPerSecond: number, options: { burstBytes?: number; now?: () => number } = {}) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`rate limit must be positive, got ${bytesPerSecond}`);
    this.#bytesPerSecond = bytesPerSecond;
    this.#burstBytes = options.burstBytes ?? Math.max(bytesPerSecond * 0.05, 64 * 1024);
    this.#now = options.now ?? (() => performance.now());
    this.#tokens = 0;
    this.#last = this.#now();
  }

  get bytesPerSecond(): number {
    return this.#bytesPerSecond;
  }

  /** Takes `bytes` tokens; returns how long (ms) the caller must wait before sending them. */
  take(bytes: number): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#burstBytes, this.#tokens + ((now - this.#last) * this.#bytesPerSecond) / 1000);
    this.#last = now;
    this.#tokens -= bytes;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.#bytesPerSecond;
  }

  async throttle(bytes: number): Promise<void> {
    const waitMs = this.take(bytes);
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}
