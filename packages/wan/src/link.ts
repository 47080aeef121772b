/**
 * The pure model of one direction of an emulated WAN link: a token bucket that serialises bytes at the
 * link rate, then a one-way propagation delay (with optional jitter), and a FIFO delay line holding what
 * is "on the wire". No sockets and no timers here: every method takes the current time, so the model is
 * tested with a fake clock and the proxy only has to call it and sleep until `nextAt()`.
 *
 * Times are milliseconds on a monotonic clock (performance.now()).
 */

/**
 * Token bucket in virtual time. `schedule(bytes, now)` answers when the last byte of a chunk has left the
 * link, which is what a serialising link (netem `rate`, tbf) does: back-to-back chunks leave one after the
 * other at the rate, and an idle link lets up to `burstBytes` through at once.
 */
export class TokenBucket {
  readonly rateBytesPerSec: number;
  readonly burstBytes: number;
  #tokens: number;
  /** The time #tokens was computed for; it runs ahead of `now` while a backlog is being serialised. */
  #at = Number.NEGATIVE_INFINITY;

  constructor(rateBytesPerSec: number, burstBytes: number) {
    if (!(rateBytesPerSec > 0) || !Number.isFinite(rateBytesPerSec)) throw new RangeError(`rate must be a positive number of bytes/s, got ${rateBytesPerSec}`);
    if (!(burstBytes >= 0)) throw new RangeError(`burst must be >= 0 bytes, got ${burstBytes}`);
    this.rateBytesPerSec = rateBytesPerSec;
    this.burstBytes = burstBytes;
    this.#tokens = burstBytes;
  }

  /** Reserves the link for `bytes` and returns the time (ms) their last byte has been sent. */
  schedule(bytes: number, now: number): number {
    // A chunk starts once the link is free (#at may be in the future while a backlog drains).
    const start = Math.max(now, this.#at);
    const elapsed = this.#at === Number.NEGATIVE_INFINITY ? Number.POSITIVE_INFINITY : start - this.#at;
    const tokens = Math.min(this.burstBytes, this.#tokens + (elapsed * this.rateBytesPerSec) / 1000);
    if (tokens >= bytes) {
      this.#tokens = tokens - bytes;
      this.#at = start;
      return start;
    }
    // Not enough credit: the chunk finishes when the missing tokens have accrued, leaving the bucket empty.
    const done = start + ((bytes - tokens) * 1000) / this.rateBytesPerSec;
    this.#tokens = 0;
    this.#at = done;
    return done;
  }
}

/** A FIFO of items each released at a time; times never decrease, so the head is always the next due. */
export class DelayLine<T> {
  readonly #items: { item: T; bytes: number; at: number }[] = [];
  #head = 0;
  #bytes = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Bytes held in the line (what the proxy counts against its buffering bound). */
  get bytes(): number {
    return this.#bytes;
  }

  push(item: T, bytes: number, at: number): void {
    const last = this.#items[this.#items.length - 1];
    if (last && this.length > 0 && at < last.at) throw new RangeError(`release times must not decrease (${at} < ${last.at})`);
    this.#items.push({ item, bytes, at });
    this.#bytes += bytes;
  }

  /** The release time of the head, or undefined when empty. */
  nextAt(): number | undefined {
    return this.#items[this.#head]?.at;
  }

  /** Removes and returns, in order, every item due at `now`. */
  takeDue(now: number): T[] {
    const due: T[] = [];
    for (let entry = this.#items[this.#head]; entry && entry.at <= now; entry = this.#items[this.#head]) {
      due.push(entry.item);
      this.#bytes -= entry.bytes;
      this.#head += 1;
    }
    // Compact now and then instead of shift() per item, which is O(n) each.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
    return due;
  }

  clear(): void {
    this.#items.length = 0;
    this.#head = 0;
    this.#bytes = 0;
  }
}

export interface LinkSettings {
  /** One-way delay added to every chunk, in ms. */
  delayMs: number;
  /** Bytes per second; undefined means unlimited (delay only). */
  rateBytesPerSec?: number | undefined;
  /** Each chunk's delay varies uniformly in [delay - jitter, delay + jitter], but never reorders. */
  jitterMs?: number | undefined;
  /** Token bucket depth; defaults to 2 ms worth of the rate, at least 16 KiB. */
  burstBytes?: number | undefined;
  /** Source of randomness in [0, 1) for jitter (tests pass a fixed sequence). */
  random?: () => number;
}

/**
 * One direction of the link: when does a chunk that arrives now reach the other end?
 * release = serialisation done (token bucket) + delay + jitter, never earlier than the previous release,
 * so jitter spreads delivery times without reordering bytes (as TCP over a real path would see it).
 */
export class LinkModel {
  readonly #bucket: TokenBucket | undefined;
  readonly #delayMs: number;
  readonly #jitterMs: number;
  readonly #random: () => number;
  #lastRelease = Number.NEGATIVE_INFINITY;

  constructor(settings: LinkSettings) {
    if (!(settings.delayMs >= 0)) throw new RangeError(`delay must be >= 0 ms, got ${settings.delayMs}`);
    const jitter = settings.jitterMs ?? 0;
    if (!(jitter >= 0)) throw new RangeError(`jitter must be >= 0 ms, got ${jitter}`);
    this.#delayMs = settings.delayMs;
    this.#jitterMs = jitter;
    this.#random = settings.random ?? Math.random;
    const rate = settings.rateBytesPerSec;
    this.#bucket = rate === undefined ? undefined : new TokenBucket(rate, settings.burstBytes ?? Math.max(16 * 1024, rate / 500));
  }

  /** The time (ms) a chunk of `bytes` arriving at `now` is released to the far side. */
  schedule(bytes: number, now: number): number {
    const sent = this.#bucket ? this.#bucket.schedule(bytes, now) : now;
    const jitter = this.#jitterMs > 0 ? (this.#random() * 2 - 1) * this.#jitterMs : 0;
    const release = Math.max(sent + Math.max(0, this.#delayMs + jitter), this.#lastRelease);
    this.#lastRelease = release;
    return release;
  }
}

/**
 * How many bytes one direction may hold before the proxy stops reading: the bandwidth-delay product
 * (what a full link holds) plus 256 KiB of "router queue", at least 1 MiB. Without a rate the product is
 * unbounded, so 8 MiB is the bound: enough for ~200 MB/s at 40 ms, and still a bound.
 */
export function defaultQueueBound(settings: LinkSettings): number {
  const rate = settings.rateBytesPerSec;
  if (rate === undefined) return 8 * 1024 * 1024;
  const delay = settings.delayMs + (settings.jitterMs ?? 0);
  return Math.max(1024 * 1024, Math.ceil((rate * delay) / 1000) + 256 * 1024);
}
