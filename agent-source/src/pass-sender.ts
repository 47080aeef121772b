import { encodeControl, MessageType, writePagesHeader, type ControlMessage } from '@ferry/protocol';
import { LinkWatch, type PageBatch, type ScanPool } from '@ferry/pages';
import type { TargetConnection } from './connection.js';
import type { EncodingTotals } from './events.js';
import type { RateLimiter } from './rate-limiter.js';

/** A scan pool for each image, in HELLO order (the index is the wire imageIndex). */
export interface ImagePools {
  readonly pools: readonly ScanPool[];
}

export interface PassOutcome {
  readonly pass: number;
  readonly dirtyPages: number;
  readonly bytesSent: number;
  readonly durationMs: number;
  /** Bytes the delta caches hold after the pass, over all images. */
  readonly deltaCacheBytes: number;
}

export interface PassScope {
  /** Only this image, only these ranges, every page in them (verify re-sends). */
  readonly image: number;
  readonly ranges: Array<[number, number]>;
}

/**
 * Sends one pass: PASS_BEGIN, the dirty pages of every image as PAGES messages, PASS_END. The scan
 * workers produce record batches; this side only frames them and respects the link: rate limit,
 * socket backpressure, and in `auto` mode it turns compression on while the link is the bottleneck.
 */
export class PassSender {
  #connection: TargetConnection;
  readonly #pools: readonly ScanPool[];
  readonly #limiter: RateLimiter | undefined;
  readonly #autoCompress: boolean;
  readonly #link = new LinkWatch();
  readonly totals: EncodingTotals = { pagesSent: 0, zeroPages: 0, rawPages: 0, lz4Pages: 0, deltaPages: 0, copyPages: 0 };
  bytesSent = 0;
  /** Pages hashed so far in the running pass, over all images. */
  passScanned = 0;
  /** Set to stop a pass between batches (Ctrl-C, --on-timeout cancel); the pass then throws it. */
  cancelled: Error | undefined;

  constructor(connection: TargetConnection, pools: readonly ScanPool[], limiter: RateLimiter | undefined, autoCompress: boolean) {
    this.#connection = connection;
    this.#pools = pools;
    this.#limiter = limiter;
    this.#autoCompress = autoCompress;
    this.#setLinkBound(limiter !== undefined);
  }

  /** After a reconnect, passes continue on the new connection. */
  useConnection(connection: TargetConnection): void {
    this.#connection = connection;
  }

  async control(message: ControlMessage): Promise<void> {
    const bytes = encodeControl(message);
    await this.#connection.sendRaw([bytes]);
    this.bytesSent += bytes.length;
  }

  /** `paused`: the workload is stopped, so the scan may use every core (the main thread only waits). */
  async sendPass(pass: number, scope?: PassScope, paused = false): Promise<PassOutcome> {
    const started = performance.now();
    const bytesBefore = this.bytesSent;
    let dirtyPages = 0;
    let deltaCacheBytes = 0;
    this.passScanned = 0;
    await this.control({ type: MessageType.PassBegin, pass });
    for (const [imageIndex, pool] of this.#pools.entries()) {
      if (scope && scope.image !== imageIndex) continue;
      const onBatch = (batch: PageBatch): Promise<void> => this.#sendBatch(imageIndex, pass, batch);
      const stats = await pool.scan(pass, onBatch, scope ? { ranges: scope.ranges, force: true } : { everyCore: paused });
      dirtyPages += stats.dirtyPages;
      deltaCacheBytes += stats.deltaCacheBytes;
    }
    const bytes = this.bytesSent - bytesBefore;
    await this.control({ type: MessageType.PassEnd, pass, pages: dirtyPages, bytes });
    return { pass, dirtyPages, bytesSent: bytes, durationMs: performance.now() - started, deltaCacheBytes };
  }

  async #sendBatch(imageIndex: number, pass: number, batch: PageBatch): Promise<void> {
    if (this.cancelled) throw this.cancelled;
    // The worker left room for the header: the batch goes out as one frame, copied by nobody.
    writePagesHeader(batch.message, 0, { imageIndex, pass, count: batch.count });
    const size = batch.message.length;
    if (this.#limiter) await this.#limiter.throttle(size);
    await this.#connection.sendRaw([batch.message], batch.release);
    this.bytesSent += size;
    this.passScanned += batch.stats.scanned;
    const t = this.totals;
    t.pagesSent += batch.count;
    t.zeroPages += batch.stats.zero;
    t.rawPages += batch.stats.raw;
    t.lz4Pages += batch.stats.lz4;
    t.deltaPages += batch.stats.delta;
    t.copyPages += batch.stats.copy;
    if (this.#limiter === undefined) this.#setLinkBound(this.#link.update(this.#connection.bufferedAmount, batch.count));
  }

  /** Compression (in auto mode) and pass-0 delta caching pay only while the link is the bottleneck (see LinkWatch). */
  #setLinkBound(on: boolean): void {
    for (const pool of this.#pools) {
      pool.setLinkBound(on);
      if (this.#autoCompress) pool.setCompress(on);
    }
  }
}
