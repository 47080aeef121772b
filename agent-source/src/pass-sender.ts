import { encodeControl, MessageType, writePagesHeader, type ControlMessage } from '@ferry/protocol';
import type { PageBatch, ScanPool } from '@ferry/pages';
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
}

export interface PassScope {
  /** Only this image, only these ranges, every page in them (verify re-sends). */
  readonly image: number;
  readonly ranges: Array<[number, number]>;
}

/** The page ranges a pass scans of one image (a dirty tracker's), or undefined for every page. */
export type PassRanges = (imageIndex: number, pass: number) => Promise<Array<[number, number]> | undefined>;

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
  readonly totals: EncodingTotals = { pagesSent: 0, zeroPages: 0, rawPages: 0, lz4Pages: 0, deltaPages: 0, copyPages: 0 };
  bytesSent = 0;
  /** Pages hashed so far in the running pass, over all images. */
  passScanned = 0;
  /** Bytes of PAGES messages sent per image (HELLO order). */
  readonly imageBytesSent: number[];
  /** Set to stop a pass between batches (Ctrl-C, --on-timeout cancel); the pass then throws it. */
  cancelled: Error | undefined;
  /** Which pages of an image a pass scans; undefined (or no function) means every page. */
  readonly #rangesFor: PassRanges | undefined;

  constructor(connection: TargetConnection, pools: readonly ScanPool[], limiter: RateLimiter | undefined, autoCompress: boolean, rangesFor?: PassRanges) {
    this.#connection = connection;
    this.#pools = pools;
    this.#limiter = limiter;
    this.#autoCompress = autoCompress;
    this.#rangesFor = rangesFor;
    this.imageBytesSent = pools.map(() => 0);
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

  async sendPass(pass: number, scope?: PassScope): Promise<PassOutcome> {
    const started = performance.now();
    const bytesBefore = this.bytesSent;
    let dirtyPages = 0;
    this.passScanned = 0;
    await this.control({ type: MessageType.PassBegin, pass });
    for (const [imageIndex, pool] of this.#pools.entries()) {
      if (scope && scope.image !== imageIndex) continue;
      const onBatch = (batch: PageBatch): Promise<void> => this.#sendBatch(imageIndex, pass, batch);
      const ranges = scope ? undefined : await this.#rangesFor?.(imageIndex, pass);
      const stats = await pool.scan(pass, onBatch, scope ? { ranges: scope.ranges, force: true } : ranges && { ranges });
      dirtyPages += stats.dirtyPages;
    }
    const bytes = this.bytesSent - bytesBefore;
    await this.control({ type: MessageType.PassEnd, pass, pages: dirtyPages, bytes });
    return { pass, dirtyPages, bytesSent: bytes, durationMs: performance.now() - started };
  }

  async #sendBatch(imageIndex: number, pass: number, batch: PageBatch): Promise<void> {
    if (this.cancelled) throw this.cancelled;
    // The worker left room for the header: the batch goes out as one frame, copied by nobody.
    writePagesHeader(batch.message, 0, { imageIndex, pass, count: batch.count });
    const size = batch.message.length;
    if (this.#limiter) await this.#limiter.throttle(size);
    await this.#connection.sendRaw([batch.message], batch.release);
    this.bytesSent += size;
    this.imageBytesSent[imageIndex] = (this.imageBytesSent[imageIndex] ?? 0) + size;
    this.passScanned += batch.stats.scanned;
    const t = this.totals;
    t.pagesSent += batch.count;
    t.zeroPages += batch.stats.zero;
    t.rawPages += batch.stats.raw;
    t.lz4Pages += batch.stats.lz4;
    t.deltaPages += batch.stats.delta;
    t.copyPages += batch.stats.copy;
    if (this.#limiter === undefined) this.#watchLink();
  }

  /** A full socket queue says the link is the bottleneck; an empty one says the scanner is. */
  #watchLink(): void {
    const queued = this.#connection.bufferedAmount;
    if (queued > 4 * 1024 * 1024) this.#setLinkBound(true);
    else if (queued < 256 * 1024) this.#setLinkBound(false);
  }

  /** Compression (in auto mode) and pass-0 delta caching pay only while the link is the bottleneck. */
  #setLinkBound(on: boolean): void {
    for (const pool of this.#pools) {
      pool.setLinkBound(on);
      if (this.#autoCompress) pool.setCompress(on);
    }
  }
}
