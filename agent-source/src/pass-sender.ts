import { encodeControl, MessageType, packPages, writePagesHeader, type PageRange } from '@ferry/protocol';
import { LinkWatch, type PageBatch, type ScanPool } from '@ferry/pages';
import { abortable, abortReason } from './abort.js';
import type { TargetConnection } from './connection.js';
import type { SendMeter } from './send-meter.js';
import type { EncodingTotals } from './events.js';
import type { LinkPacing } from './link-pacing.js';
import type { RateLimiter } from './rate-limiter.js';

export interface PassOutcome {
  readonly pass: number;
  readonly dirtyPages: number;
  /** Pages read and hashed to find the dirty ones, over all images. */
  readonly pagesRead: number;
  readonly bytesSent: number;
  readonly durationMs: number;
  /** Bytes the delta caches hold after the pass, over all images. */
  readonly deltaCacheBytes: number;
  /** Where the main thread's time in the pass went (see PassStages). */
  readonly stages: PassStages;
}

/**
 * The main thread's wall time in a pass, by what it waited for: the scan workers (`scanWaitMs`: no batch
 * ready), packing a batch (`packMs`, on a slow link), the rate limit or the link pacer, the socket taking a batch (`sendMs`: framing and the write calls themselves)
 * and the socket's queue draining (`drainWaitMs`: backpressure). Cheap enough (four clock reads a batch)
 * to be always on; --json shows it on pass-end.
 */
export type PassStages = {
  readonly batches: number;
  readonly scanWaitMs: number;
  readonly packMs: number;
  readonly rateWaitMs: number;
  readonly sendMs: number;
  readonly drainWaitMs: number;
};

const round = (ms: number): number => Math.round(ms * 10) / 10;

/**
 * Below this link rate (bytes/s) a batch goes out packed (PAGES_PACKED: the whole message compressed as
 * one, its records raw) instead of as LZ4 records: it saves a fifth to a quarter more of the bytes, and
 * 200 Mbit/s is a tenth of what one thread packs at here (docs/measurements.md), so packing never sets
 * the pace. The rate is what --rate-limit says or the pacer measured; unknown, nothing is packed.
 */
const PACK_BELOW_BYTES_PER_SEC = 25e6;

export type CompressMode = 'auto' | 'always' | 'never';

export interface PassScope {
  /** Only this image, only these ranges, every page in them (verify re-sends). */
  readonly image: number;
  readonly ranges: readonly PageRange[];
}

/** Work to start once some images have been scanned in a pass (the final pass: the state hook, once the disks are read). */
export interface AfterImages {
  readonly images: readonly number[];
  readonly run: () => void;
}

/** The page ranges a pass scans of one image (a dirty tracker's), or undefined for every page; `paused` in the final pass. */
export type PassRanges = (imageIndex: number, pass: number, paused: boolean) => Promise<readonly PageRange[] | undefined>;

/**
 * Sends one pass: PASS_BEGIN, the dirty pages of every image as PAGES messages, PASS_END. The scan
 * workers produce record batches; this side only frames them and respects the link: rate limit or
 * pacing, socket backpressure, and in `auto` mode it turns compression on while the link is the bottleneck.
 * Bytes are counted by the connection's meter (the one count); a pass's bytes are what it moved
 * (PASS_BEGIN and its PAGES messages), even while state blobs share the link.
 */
export class PassSender {
  #connection: TargetConnection;
  readonly #pools: readonly ScanPool[];
  readonly #meter: SendMeter;
  readonly #limiter: RateLimiter | undefined;
  readonly #pacing: LinkPacing | undefined;
  readonly #compress: CompressMode;
  /** The paused pass compresses whatever the link watch says (compressFromNowOn). */
  #compressForced = false;
  /** The link, not the scanner, is the bottleneck (LinkWatch, or a rate limit). */
  #linkBound = false;
  /** Batches go out as PAGES_PACKED (see PACK_BELOW_BYTES_PER_SEC). */
  #packing = false;
  readonly #link = new LinkWatch();
  readonly #totals: EncodingTotals = { pagesSent: 0, zeroPages: 0, rawPages: 0, lz4Pages: 0, deltaPages: 0, copyPages: 0, zeroBytes: 0, rawBytes: 0, lz4Bytes: 0, deltaBytes: 0, copyBytes: 0, packedBytesSaved: 0 };
  #passScanned = 0;
  #passBytes = 0;
  #stages = { batches: 0, scanWaitMs: 0, packMs: 0, rateWaitMs: 0, sendMs: 0, drainWaitMs: 0 };
  /** When the main thread last finished with a batch (or the pass began): the scan wait runs from here. */
  #idleSince = 0;
  /** Bytes of PAGES messages sent per image (HELLO order). */
  readonly #imageBytes: number[];
  /** Which pages of an image a pass scans; undefined (or no function) means every page. */
  readonly #rangesFor: PassRanges | undefined;

  /** `limiter` (--rate-limit) or `pacing` (to the link) holds each batch back before the socket takes it. */
  constructor(connection: TargetConnection, pools: readonly ScanPool[], meter: SendMeter, pace: { limiter?: RateLimiter | undefined; pacing?: LinkPacing | undefined }, compress: CompressMode, rangesFor?: PassRanges) {
    this.#connection = connection;
    this.#pools = pools;
    this.#meter = meter;
    this.#limiter = pace.limiter;
    this.#pacing = pace.pacing;
    this.#compress = compress;
    this.#rangesFor = rangesFor;
    this.#imageBytes = pools.map(() => 0);
    this.#setLinkBound(pace.limiter !== undefined);
  }

  /** Pages of each encoding sent so far, over all passes. */
  get totals(): Readonly<EncodingTotals> {
    return this.#totals;
  }

  /** Pages hashed so far in the running pass, over all images. */
  /** Bytes of PAGES messages sent per image (HELLO order). */
  get imageBytesSent(): readonly number[] {
    return this.#imageBytes;
  }

  get passScanned(): number {
    return this.#passScanned;
  }

  /** Milliseconds the running (or last) pass spent on the way to the link (packing, rate limit, socket backpressure) rather than scanning. */
  get passLinkWaitMs(): number {
    const { packMs, rateWaitMs, sendMs, drainWaitMs } = this.#stages;
    return packMs + rateWaitMs + sendMs + drainWaitMs;
  }

  /**
   * While the workload is paused every byte adds to the pause, so on a link slower than LZ4 the final
   * pass compresses whatever the socket queue says (a scan-bound final pass would otherwise go raw).
   */
  compressFromNowOn(): void {
    this.#compressForced = true;
    this.#applyCodec();
  }

  /** After a reconnect, passes continue on the new connection. */
  useConnection(connection: TargetConnection): void {
    this.#connection = connection;
  }

  /**
   * Aborting `signal` stops the pass between batches (the workers stop too); the pass rejects with its reason.
   * `paused`: the workload is stopped, so the scan may use every core (the main thread only waits).
   * Images are scanned one after the other; only the trackers' freezes run ahead, from the pass's start.
   * `after.run` runs once `after.images` have been scanned in this pass (at once when there are none).
   */
  async sendPass(pass: number, signal: AbortSignal, scope?: PassScope, paused = false, after?: AfterImages): Promise<PassOutcome> {
    const started = performance.now();
    // This pass's own bytes, not the meter's delta: other messages (state blobs) may go out meanwhile.
    this.#passBytes = encodeControl({ type: MessageType.PassBegin, pass }).length;
    this.#passScanned = 0;
    // Every image's ranges are asked for now, so a tracker's freeze never waits for another image's scan.
    const allRanges = this.#pools.map((_pool, image) => (scope ? Promise.resolve(undefined) : this.#rangesFor?.(image, pass, paused) ?? Promise.resolve(undefined)));
    for (const ranges of allRanges) ranges.catch(() => {}); // awaited by the image's scan, which reports the error
    await this.#connection.sendControl({ type: MessageType.PassBegin, pass });
    this.#stages = { batches: 0, scanWaitMs: 0, packMs: 0, rateWaitMs: 0, sendMs: 0, drainWaitMs: 0 };
    this.#idleSince = performance.now();
    const scanImage = async (imageIndex: number): ReturnType<ScanPool['scan']> => {
      const onBatch = (batch: PageBatch): Promise<void> => this.#sendBatch(imageIndex, pass, batch, signal);
      const ranges = await allRanges[imageIndex];
      return this.#pools[imageIndex]!.scan(pass, onBatch, scope ? { ranges: scope.ranges, force: true } : { everyCore: paused, ...(ranges ? { ranges } : {}) });
    };
    const waiting = new Set(after?.images);
    if (after && waiting.size === 0) after.run();
    let dirtyPages = 0;
    let pagesRead = 0;
    let deltaCacheBytes = 0;
    for (const image of this.#pools.keys()) {
      if (scope && scope.image !== image) continue;
      const stats = await scanImage(image);
      dirtyPages += stats.dirtyPages;
      pagesRead += stats.pagesScanned;
      deltaCacheBytes += stats.deltaCacheBytes;
      if (waiting.delete(image) && waiting.size === 0) after?.run();
    }
    const bytes = this.#passBytes;
    await this.#connection.sendControl({ type: MessageType.PassEnd, pass, pages: dirtyPages, bytes });
    const st = this.#stages;
    const stages = { batches: st.batches, scanWaitMs: round(st.scanWaitMs), packMs: round(st.packMs), rateWaitMs: round(st.rateWaitMs), sendMs: round(st.sendMs), drainWaitMs: round(st.drainWaitMs) };
    return { pass, dirtyPages, pagesRead, bytesSent: bytes, durationMs: performance.now() - started, deltaCacheBytes, stages };
  }

  async #sendBatch(imageIndex: number, pass: number, batch: PageBatch, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw abortReason(signal);
    const stages = this.#stages;
    const arrived = performance.now();
    stages.scanWaitMs += arrived - this.#idleSince;
    stages.batches++;
    // The worker left room for the header: the batch goes out as one frame, copied by nobody.
    writePagesHeader(batch.message, 0, { imageIndex, pass, count: batch.count });
    const unpacked = batch.message.length;
    const { message, release } = await this.#packed(batch);
    const bytes = message.length;
    const packed = performance.now();
    if (this.#limiter) await abortable(this.#limiter.throttle(bytes), signal);
    const paced = this.#pacing ? await this.#pacing.ready(bytes, signal) : false;
    const limited = performance.now();
    // Once handed to the socket the batch is the socket's (it releases it); only the wait for a drain is given up.
    const sent = this.#connection.sendRaw([message], release);
    const handed = performance.now();
    await abortable(sent, signal);
    const drained = performance.now();
    stages.packMs += packed - arrived;
    stages.rateWaitMs += limited - packed;
    stages.sendMs += handed - limited;
    stages.drainWaitMs += drained - handed;
    this.#idleSince = drained;
    this.#imageBytes[imageIndex] = (this.#imageBytes[imageIndex] ?? 0) + bytes;
    this.#passBytes += bytes;
    this.#passScanned += batch.stats.scanned;
    const t = this.#totals;
    t.pagesSent += batch.count;
    t.zeroPages += batch.stats.zero;
    t.rawPages += batch.stats.raw;
    t.lz4Pages += batch.stats.lz4;
    t.deltaPages += batch.stats.delta;
    t.copyPages += batch.stats.copy;
    t.zeroBytes += batch.stats.zeroBytes;
    t.rawBytes += batch.stats.rawBytes;
    t.lz4Bytes += batch.stats.lz4Bytes;
    t.deltaBytes += batch.stats.deltaBytes;
    t.copyBytes += batch.stats.copyBytes;
    t.packedBytesSaved += unpacked - bytes;
    // Paced, the bytes wait before the socket, not in it: while the pacer holds batches back, what it has in flight is the queue.
    const queued = this.#connection.bufferedAmount + (paced ? this.#pacing?.inFlight ?? 0 : 0);
    if (this.#limiter === undefined) this.#setLinkBound(this.#link.update(queued, batch.count));
  }

  /**
   * The batch as it goes on the wire: itself, or packed (its buffer then goes back to the worker as soon
   * as it is packed). Packing runs on libuv's thread pool, not on this thread.
   */
  async #packed(batch: PageBatch): Promise<{ message: Uint8Array; release: (() => void) | undefined }> {
    if (!this.#packing) return { message: batch.message, release: batch.release };
    try {
      return { message: await packPages(batch.message), release: undefined };
    } finally {
      batch.release();
    }
  }

  /** Pass-0 delta caching pays only while the link is the bottleneck, and so does compression in auto mode (see LinkWatch). */
  #setLinkBound(on: boolean): void {
    this.#linkBound = on;
    for (const pool of this.#pools) pool.setLinkBound(on);
    this.#applyCodec();
  }

  /**
   * Whether to save bytes, and how: LZ4 records from the workers, or raw records packed whole on a slow
   * link. A link known to be that slow is the bottleneck whatever the socket queue says, so auto mode
   * packs there without waiting for the link watch's windows (each "off" window it probes sends raw).
   */
  #applyCodec(): void {
    const rate = this.#limiter?.bytesPerSecond ?? this.#pacing?.linkRate;
    const slow = rate !== undefined && rate < PACK_BELOW_BYTES_PER_SEC;
    const saving = this.#compress === 'always' || (this.#compress === 'auto' && (this.#linkBound || this.#compressForced || slow));
    this.#packing = saving && slow;
    if (this.#compress === 'never') return;
    for (const pool of this.#pools) pool.setCompress(saving && !this.#packing);
  }
}
