import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { PAGES_HEADER_BYTES, TARGET_PAGES_MESSAGE_BYTES } from '@ferry/protocol';
import { createPageHasher, zeroPageHash } from './hash.js';
import { ImageFile } from './image-file.js';
import type { BatchStats } from './page-encoder.js';
import { adoptOutcome, Control, CONTROL_SLOTS, type FromWorker, type ScanWorkerData, type ToWorker } from './scan-protocol.js';

export interface ScanPoolOptions {
  readonly imagePath: string;
  readonly pageSize: number;
  /** Worker threads; each owns a contiguous slice of the image. */
  readonly workers: number;
  readonly deltaCacheBytes: number;
  readonly delta: boolean;
  readonly compress: 'auto' | 'always' | 'never';
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
  /** Only these page ranges [start, end). */
  readonly ranges?: ReadonlyArray<readonly [number, number]>;
  /** Send every page in scope, dirty or not (verify re-sends). */
  readonly force?: boolean;
}

interface ScanWorker {
  readonly worker: Worker;
  readonly first: number;
  readonly end: number;
  readonly control: Int32Array;
  readonly returnPort: MessagePort;
  /** Messages for the running operation; undefined when idle. */
  onMessage: ((message: FromWorker) => void) | undefined;
}

/**
 * The scanning side of the source: worker threads that read, hash and encode, and the table of what
 * the target holds (`sentHashes`, shared with the workers). One scan at a time; batches reach `onBatch`
 * strictly in order per worker, which is what makes COPY records sound (see page-encoder).
 */
export class ScanPool {
  readonly pageSize: number;
  readonly pageCount: number;
  /** Per page, the hash of what the target holds: the zero-page hash until something is sent. */
  readonly sentHashes: BigUint64Array;
  readonly #workers: ScanWorker[];
  #busy = false;
  #broken: Error | undefined;

  private constructor(pageSize: number, pageCount: number, sentHashes: BigUint64Array, workers: ScanWorker[]) {
    this.pageSize = pageSize;
    this.pageCount = pageCount;
    this.sentHashes = sentHashes;
    this.#workers = workers;
  }

  static async start(options: ScanPoolOptions): Promise<ScanPool> {
    const file = ImageFile.openRead(options.imagePath, options.pageSize);
    const pageCount = file.pageCount;
    file.close();
    const zeroHash = zeroPageHash(await createPageHasher(), options.pageSize);
    const sentHashes = new BigUint64Array(new SharedArrayBuffer(pageCount * 8)).fill(zeroHash);
    const count = Math.max(1, Math.min(options.workers, pageCount));
    const slice = Math.ceil(pageCount / count);
    const workers: ScanWorker[] = [];
    try {
      for (let n = 0; n < count; n++) {
        const first = n * slice;
        const end = Math.min(pageCount, first + slice);
        const control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4));
        control[Control.Compress] = options.compress === 'always' ? 1 : 0;
        const channel = new MessageChannel();
        const data: ScanWorkerData = {
          imagePath: options.imagePath, pageSize: options.pageSize, first, end,
          sentHashes: sentHashes.buffer as SharedArrayBuffer, control: control.buffer as SharedArrayBuffer,
          delta: options.delta, deltaCacheBytes: Math.floor(options.deltaCacheBytes / count),
          batchBytes: TARGET_PAGES_MESSAGE_BYTES, headerBytes: PAGES_HEADER_BYTES, returnPort: channel.port2,
        };
        const worker = new Worker(new URL('./scan-worker.js', import.meta.url), { workerData: data, transferList: [channel.port2] });
        channel.port1.unref();
        const scanWorker: ScanWorker = { worker, first, end, control, returnPort: channel.port1, onMessage: undefined };
        workers.push(scanWorker);
        worker.on('message', (message: FromWorker) => scanWorker.onMessage?.(message));
        await new Promise<void>((resolve, reject) => {
          worker.once('error', reject);
          scanWorker.onMessage = (message) => (message.type === 'ready' ? resolve() : reject(new Error(`scan worker: ${JSON.stringify(message)}`)));
        });
        scanWorker.onMessage = undefined;
      }
    } catch (error) {
      await Promise.allSettled(workers.map((w) => w.worker.terminate()));
      throw new Error(`could not start the scan workers for ${options.imagePath}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const pool = new ScanPool(options.pageSize, pageCount, sentHashes, workers);
    for (const w of workers) {
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
              let released = false;
              const release = (): void => {
                if (released) return;
                released = true;
                w.returnPort.postMessage(message.message.buffer, [message.message.buffer as ArrayBuffer]);
                Atomics.add(w.control, Control.Returned, 1);
                Atomics.notify(w.control, Control.Returned);
              };
              const batch: PageBatch = { message: message.message, count: message.count, stats: message.stats, release };
              recordBytes += message.stats.payloadBytes;
              sending = sending
                .then(() => (failure === undefined ? onBatch(batch) : release()))
                .catch((error: unknown) => {
                  release();
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
        const ranges = clip(scope?.ranges ?? [[w.first, w.end]], w.first, w.end);
        this.#post(w, { type: 'scan', pass, ranges, force: scope?.force === true });
      })));
      await sending;
    } finally {
      for (const w of this.#workers) w.onMessage = undefined;
      this.#busy = false;
    }
    if (failure !== undefined) throw failure;
    return { pass, pagesScanned, dirtyPages, scanMs: performance.now() - started, recordBytes, deltaCacheBytes };
  }

  /**
   * Takes the target's own table of what it holds (after a reconnect, or a --base image): the next scan
   * sends exactly the pages that differ, and delta-cache entries the target does not hold are dropped.
   */
  async adoptTargetHashes(table: BigUint64Array): Promise<void> {
    if (table.length !== this.pageCount) throw new RangeError(`page table has ${table.length} entries, the image has ${this.pageCount} pages`);
    if (this.#broken) throw this.#broken;
    if (this.#busy) throw new Error('cannot adopt a page table during a scan');
    this.sentHashes.set(table);
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
    await Promise.allSettled(this.#workers.map((w) => w.worker.terminate()));
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

function clip(ranges: ReadonlyArray<readonly [number, number]>, first: number, end: number): Array<[number, number]> {
  const clipped: Array<[number, number]> = [];
  for (const [start, stop] of ranges) {
    const a = Math.max(start, first);
    const b = Math.min(stop, end);
    if (a < b) clipped.push([a, b]);
  }
  return clipped;
}
