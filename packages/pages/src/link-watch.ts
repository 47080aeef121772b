/**
 * Whether saving bytes pays right now: LZ4 (in `auto` mode) and filling the delta cache during pass 0
 * cost CPU on both ends for every page, and they win only when the wire, not a CPU, is the bottleneck.
 *
 * A full socket queue alone does not say which: on loopback, or on a host whose cores are busy, the queue
 * fills because the receiver is short of CPU, and turning compression and caching on there only slows
 * both sides down (it halved pass 0 on this machine and held 256 MiB of cache no delta used). Nor does
 * the drain rate: a loaded host drains as slowly as a WAN. So while the queue is full the watch measures:
 * it runs a window with saving on and one with it off, compares the pages per second that went out, and
 * keeps saving on only while it sends at least as many pages (re-measuring the other way now and then).
 */
/**
 * Queue levels with hysteresis: above FULL the link may be the bottleneck, below EMPTY it is not. FULL is
 * more than one batch (1 MiB) waiting: behind a WAN path the kernel's buffers hold several MiB, and the
 * socket's own queue seldom stayed over 4 MiB (100 Mbit/s through ferry wan-proxy: LZ4 came on 8 s into
 * a 12.7 s pass 0).
 */
const QUEUE_FULL_BYTES = 1.5 * 1024 * 1024;
const QUEUE_EMPTY_BYTES = 256 * 1024;
/** One measurement window: long enough that the queue's old content (a few MiB) has drained in it. */
const WINDOW_MS = 1000;
/** Windows between re-measurements of the mode not chosen. */
const REPROBE_WINDOWS = 8;
/** Saving bytes stays on unless it costs more than this share of the page rate (a slow wire shows none). */
const TOLERANCE = 0.95;

export class LinkWatch {
  readonly #now: () => number;
  #windowStart: number;
  #windowPages = 0;
  #saving = false;
  /** Pages per second last measured with saving on and off, while the queue was full. */
  #rateOn: number | undefined;
  #rateOff: number | undefined;
  #sinceProbe = 0;
  /**
   * The window after a switch is not measured: the workers had already encoded the batches it sends
   * the old way (an "on" window measured raw batches, saw no gain and turned LZ4 off again).
   */
  #settling = false;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
    this.#windowStart = now();
  }

  /**
   * Called after each batch is queued: `queued` is the socket's queue now, `pages` the pages the batch
   * carried. Returns whether saving bytes (LZ4 in auto mode, pass-0 caching) should be on.
   */
  update(queued: number, pages: number): boolean {
    this.#windowPages += pages;
    const now = this.#now();
    if (queued < QUEUE_EMPTY_BYTES) {
      // The scanner is the bottleneck: saving bytes would only slow it down. Old measurements are stale.
      this.#restart(now);
      this.#rateOn = this.#rateOff = undefined;
      this.#saving = false;
      this.#settling = false;
    } else if (now - this.#windowStart >= WINDOW_MS) {
      const rate = (this.#windowPages * 1000) / (now - this.#windowStart);
      this.#restart(now);
      if (this.#settling) this.#settling = false;
      else if (queued > QUEUE_FULL_BYTES) this.#decide(rate);
    }
    return this.#saving;
  }

  #decide(rate: number): void {
    if (this.#saving) this.#rateOn = rate;
    else this.#rateOff = rate;
    this.#sinceProbe++;
    const other = this.#saving ? this.#rateOff : this.#rateOn;
    const was = this.#saving;
    if (other === undefined || this.#sinceProbe > REPROBE_WINDOWS) {
      this.#saving = !this.#saving;
      this.#sinceProbe = 0;
    } else {
      this.#saving = this.#rateOn! >= this.#rateOff! * TOLERANCE;
    }
    this.#settling = this.#saving !== was;
  }

  #restart(now: number): void {
    this.#windowStart = now;
    this.#windowPages = 0;
  }
}
