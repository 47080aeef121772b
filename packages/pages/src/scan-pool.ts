import { availableParallelism } from 'node:os';
import { chunkRanges, clipRanges, mergeRanges, type PageRange } from '@ferry/protocol';
import { createPageHasher, zeroPageHash } from './hash.js';
import { ImageFile } from './image-file.js';
import type { BatchStats } from './page-encoder.js';
import { adoptOutcome, chunkPagesOf, Control, type FromWorker, type ToWorker } from './scan-protocol.js';
import { startWorker, type ScanWorker, type WorkerOptions } from './scan-thread.js';

export interface ScanPoolOptions extends WorkerOptions {
  /** Worker threads; each owns a contiguous slice of the image. */
  readonly workers: number;
  readonly deltaCacheBytes: number;
  /**
   * Threads that hash while the workload is paused (default: every core): the main thread then idles,
   * so `workers` plus hash-only helpers, started with the pool so the pause does not wait for them.
   */
  readonly pausedThreads?: number;
}

/**
 * One PAGES message: its first PAGES_HEADER_BYTES are left for the caller's header, the records follow.
 * The buffer belongs to the scan worker: call `release` once the socket has taken it (not before: it is
 * reused for a later batch), or when it will not be sent.
 */
export interface PageBatch {
  readonly message: Uint8Array;
  readonly count: number;
  readonly stats: BatchStats;
  readonly release: () => void;
}

export interface PassStats {
  readonly pass: number;
  readonly pagesScanned: number;
  readonly dirtyPages: number;
  /** Wall time of the scan, including waits for the link. */
  readonly scanMs: number;
  readonly recordBytes: number;
  /** Bytes the delta caches of the workers hold after the scan. */
  readonly deltaCacheBytes: number;
}

export interface ScanScope {
  /** Only these page ranges (any order; a page named twice is read once). */
  readonly ranges?: readonly PageRange[];
  /** Send every page in scope, dirty or not (verify re-sends). */
  readonly force?: boolean;
  /**
   * The image does not change during this scan (the workload is paused): every thread of the pool hashes
   * first, then the owning workers encode only the dirty pages. Ignored with `force`.
   */
  readonly everyCore?: boolean;
}


/**
 * The scanning side of the source: worker threads that read, hash and encode, and the table of what
 * the target holds (`targetHashes`, shared with the workers). One scan at a time; batches reach `onBatch`
 * strictly in order per worker, which is what makes COPY records sound (see page-encoder).
 */
export class ScanPool {
  readonly pageSize: number;
  readonly pageCount: number;
  /** Per page, the hash of what the target holds: the zero-page hash until something is sent. */
  readonly targetHashes: BigUint64Array;
  readonly #workers: ScanWorker[];
  /** Hash-only threads (an empty slice) that join the workers for `everyCore` scans. */
  readonly #helpers: ScanWorker[];
  /** The next chunk of a paused scan to claim, shared by every thread. */
  readonly #claims: Int32Array;
  #busy = false;
  #broken: Error | undefined;

  private constructor(pageSize: number, shared: { readonly targetHashes: BigUint64Array; readonly claims: Int32Array }, workers: ScanWorker[], helpers: ScanWorker[]) {
    this.pageSize = pageSize;
    this.pageCount = shared.targetHashes.length;
    this.targetHashes = shared.targetHashes;
    this.#claims = shared.claims;
    this.#workers = workers;
    this.#helpers = helpers;
  }

  /** Threads that hash in an `everyCore` scan. */
  get pausedThreads(): number {
    return this.#workers.length + this.#helpers.length;
  }

  static async start(options: ScanPoolOptions): Promise<ScanPool> {
    const file = ImageFile.openRead(options.imagePath, options.pageSize);
    const pageCount = file.pageCount;
    file.close();
    const zeroHash = zeroPageHash(await createPageHasher(), options.pageSize);
    const targetHashes = new BigUint64Array(new SharedArrayBuffer(pageCount * 8)).fill(zeroHash);
    const shared = { targetHashes, claims: new Int32Array(new SharedArrayBuffer(4)) };
    const count = Math.max(1, Math.min(options.workers, pageCount));
    const slice = Math.ceil(pageCount / count);
    const helperCount = Math.max(0, Math.min(options.pausedThreads ?? availableParallelism(), pageCount) - count);
    const workers: ScanWorker[] = [];
    const helpers: ScanWorker[] = [];
    try {
      for (let n = 0; n < count; n++) {
        const first = n * slice;
        workers.push(await startWorker(options, shared, first, Math.min(pageCount, first + slice), Math.floor(options.deltaCacheBytes / count)));
      }
      for (let n = 0; n < helperCount; n++) helpers.push(await startWorker(options, shared, 0, 0, 0));
    } catch (error) {
      await Promise.allSettled([...workers, ...helpers].map((w) => w.worker.terminate()));
      throw new Error(`could not start the scan workers for ${options.imagePath}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const pool = new ScanPool(options.pageSize, shared, workers, helpers);
    for (const w of [...workers, ...helpers]) {
      w.worker.on('error', (error) => pool.#fail(w, error));
      w.worker.on('exit', (code) => pool.#fail(w, new Error(`a scan worker exited (code ${code})`)));
    }
    return pool;
  }

  /** Auto compression: the sender turns LZ4 on while the link is the bottleneck. */
  setCompress(on: boolean): void {
    for (const w of this.#workers) Atomics.store(w.control, Control.Compress, on ? 1 : 0);
  }

  /** While the link is the bottleneck, pass 0 also fills the delta cache (the scanner has time to spare). */
  setLinkBound(on: boolean): void {
    for (const w of this.#workers) Atomics.store(w.control, Control.LinkBound, on ? 1 : 0);
  }

  /**
   * Scans the image (or `scope.ranges`) once and hands every batch of dirty-page records to `onBatch`,
   * one at a time. If `onBatch` throws, the workers stop, the scan rejects with that error, and the pool
   * stays usable (what the target holds is then unknown: adopt its table before the next scan).
   */
  async scan(pass: number, onBatch: (batch: PageBatch) => Promise<void>, scope?: ScanScope): Promise<PassStats> {
    if (this.#broken) throw this.#broken;
    if (this.#busy) throw new Error('a scan is already running on this image');
    this.#busy = true;
    const started = performance.now();
    try {
      const force = scope?.force === true;
      // Normal form: a page named twice is still read once, and the find-dirty shares come in order.
      const ranges = scope?.ranges && mergeRanges(scope.ranges);
      if (!scope?.everyCore || force) return { pass, ...(await this.#encode(onBatch, ranges, { pass, force })), scanMs: performance.now() - started };
      const { dirty, pagesScanned } = await this.#findDirty(ranges ?? [[0, this.pageCount]]);
      const encoded = await this.#encode(onBatch, dirty, { pass, force: false });
      return { pass, ...encoded, pagesScanned, scanMs: performance.now() - started };
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Every thread hashes chunks of `ranges` until none is left (claimed one at a time, so the pass ends
   * when the last chunk does, not when the thread the scheduler held back longest finishes an equal
   * share); returns the pages that differ from what the target holds.
   */
  async #findDirty(ranges: readonly PageRange[]): Promise<{ dirty: PageRange[]; pagesScanned: number }> {
    const chunks = chunkRanges(ranges, chunkPagesOf(this.pageSize));
    const threads = [...this.#workers, ...this.#helpers].slice(0, Math.max(1, chunks.length));
    Atomics.store(this.#claims, 0, 0);
    try {
      const replies = await Promise.all(threads.map((w) => new Promise<Extract<FromWorker, { type: 'dirty' }>>((resolve, reject) => {
        w.onMessage = (message) => {
          if (message.type === 'dirty') resolve(message);
          else if (message.type === 'failed') reject(new Error(`scan worker failed: ${message.message}`));
        };
        this.#post(w, { type: 'find-dirty', chunks });
      })));
      return { dirty: mergeRanges(replies.flatMap((r) => r.ranges)), pagesScanned: replies.reduce((sum, r) => sum + r.pagesScanned, 0) };
    } finally {
      for (const w of threads) w.onMessage = undefined;
    }
  }

  /** The owning workers encode the dirty pages of `ranges` (default: their whole slice) into batches. */
  async #encode(
    onBatch: (batch: PageBatch) => Promise<void>,
    scopeRanges: readonly PageRange[] | undefined,
    request: { readonly pass: number; readonly force: boolean },
  ): Promise<Omit<PassStats, 'pass' | 'scanMs'>> {
    let failure: unknown;
    let sending: Promise<void> = Promise.resolve();
    let pagesScanned = 0;
    let dirtyPages = 0;
    let recordBytes = 0;
    let deltaCacheBytes = 0;
    const cancelAll = (): void => {
      for (const w of this.#workers) {
        Atomics.store(w.control, Control.Cancel, 1);
        Atomics.notify(w.control, Control.Returned);
      }
    };
    try {
      await Promise.all(this.#workers.map((w) => new Promise<void>((resolve, reject) => {
        Atomics.store(w.control, Control.Cancel, 0);
        w.onMessage = (message) => {
          switch (message.type) {
            case 'batch': {
              const batch = toPageBatch(w, message);
              recordBytes += message.stats.payloadBytes;
              sending = sending
                .then(() => (failure === undefined ? onBatch(batch) : batch.release()))
                .catch((error: unknown) => {
                  batch.release();
                  failure ??= error;
                  cancelAll();
                });
              return;
            }
            case 'done':
              pagesScanned += message.stats.pagesScanned;
              dirtyPages += message.stats.dirtyPages;
              deltaCacheBytes += message.stats.deltaCacheBytes;
              resolve();
              return;
            case 'failed':
              failure ??= new Error(`scan worker failed: ${message.message}`);
              cancelAll();
              resolve();
              return;
            default:
              reject(new Error(`scan worker sent ${message.type} during a scan`));
          }
        };
        const ranges = clipRanges(scopeRanges ?? [[w.first, w.end]], w.first, w.end);
        this.#post(w, { type: 'scan', ...request, ranges });
      })));
      await sending;
    } finally {
      for (const w of this.#workers) w.onMessage = undefined;
    }
    if (failure !== undefined) throw failure;
    return { pagesScanned, dirtyPages, recordBytes, deltaCacheBytes };
  }

  /**
   * Takes the target's own table of what it holds (after a reconnect, or a --base image): the next scan
   * sends exactly the pages that differ, and delta-cache entries the target does not hold are dropped.
   */
  async adoptTargetHashes(table: BigUint64Array): Promise<void> {
    if (table.length !== this.pageCount) throw new RangeError(`page table has ${table.length} entries, the image has ${this.pageCount} pages`);
    if (this.#broken) throw this.#broken;
    if (this.#busy) throw new Error('cannot adopt a page table during a scan');
    this.targetHashes.set(table);
    const replies = await Promise.allSettled(this.#workers.map((w) => new Promise<void>((resolve, reject) => {
      w.onMessage = (message) => {
        const outcome = adoptOutcome(message);
        if (outcome === 'adopted') resolve();
        else if (outcome) reject(outcome);
      };
      this.#post(w, { type: 'adopt' });
    })));
    for (const w of this.#workers) w.onMessage = undefined;
    const failed = replies.find((reply) => reply.status === 'rejected');
    // A worker that kept deltas against content the target does not hold would corrupt the next pass.
    if (failed) throw failed.reason;
  }

  async close(): Promise<void> {
    this.#broken ??= new Error('the scan pool is closed');
    await Promise.allSettled([...this.#workers, ...this.#helpers].map((w) => w.worker.terminate()));
  }

  /** A worker that died leaves the pool unusable; the operation waiting on it fails now, not never. */
  #fail(w: ScanWorker, error: Error): void {
    this.#broken ??= error;
    w.onMessage?.({ type: 'failed', message: error.message });
  }

  #post(w: ScanWorker, message: ToWorker): void {
    w.worker.postMessage(message);
  }
}

/** A worker's batch for the sender; `release` hands its buffer back to that worker, once. */
function toPageBatch(w: ScanWorker, message: Extract<FromWorker, { type: 'batch' }>): PageBatch {
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    w.returnPort.postMessage(message.message.buffer, [message.message.buffer as ArrayBuffer]);
    Atomics.add(w.control, Control.Returned, 1);
    Atomics.notify(w.control, Control.Returned);
  };
  return { message: message.message, count: message.count, stats: message.stats, release };
}
