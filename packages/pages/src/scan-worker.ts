/**
 * A scan worker: reads its slice of the image, hashes every page, and encodes the dirty ones into
 * ready-to-send record batches. Runs synchronously (blocking reads, Atomics.wait for credits): the main
 * thread only frames batches and writes them to the socket.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { RangeCollector, RECORD_HEADER_BYTES, type PageRange } from '@ferry/protocol';
import { ContentIndex } from './content-index.js';
import { DeltaCache } from './delta-cache.js';
import { createChunkHasher, createPageHasher, zeroPageHash } from './hash.js';
import { ImageFile } from './image-file.js';
import { PageEncoder, RecordBatch, type EncoderTables } from './page-encoder.js';
import { BATCH_BUFFERS, chunkPagesOf, Control, type FromWorker, type ScanWorkerData, type ToWorker } from './scan-protocol.js';

const data = workerData as ScanWorkerData;
const port = parentPort!;
const post = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

const hasher = await createPageHasher();
const control = new Int32Array(data.control);
const targetHashes = new BigUint64Array(data.targetHashes);
const file = ImageFile.openRead(data.imagePath, data.pageSize);
const pageSize = data.pageSize;
const chunkPages = chunkPagesOf(pageSize);
const claims = new Int32Array(data.claims);
/** Every pass reads its chunks straight into the memory the hash reads: no page is copied to be hashed. */
const chunkHasher = await createChunkHasher(chunkPages * pageSize);
const readBuffer = chunkHasher.chunk;
const batchCapacity = Math.max(data.batchBytes, data.headerBytes + RECORD_HEADER_BYTES + pageSize);

const rebuildIndex = (index: ContentIndex): void => {
  for (let page = data.first; page < data.end; page++) {
    if (targetHashes[page] !== tables.zeroHash) index.insert(targetHashes[page]!, page);
  }
};
const tables: EncoderTables = {
  pageSize,
  zeroHash: zeroPageHash(hasher, pageSize),
  targetHashes,
  cache: data.delta ? new DeltaCache(data.deltaCacheBytes, pageSize) : undefined,
  index: new ContentIndex(data.end - data.first, (index) => rebuildIndex(index)),
};
const encoder = new PageEncoder(tables);

/**
 * Batch buffers go to the main thread and come back once the socket has taken them: reusing them saves
 * an allocation and a megabyte of page faults per batch, and their number bounds what is in flight.
 */
const spare: ArrayBuffer[] = [];
let allocated = 0;

/** The next free batch buffer; blocks while all are in flight. Undefined when the scan was cancelled. */
function takeBuffer(): Uint8Array | undefined {
  for (;;) {
    const returned = receiveMessageOnPort(data.returnPort);
    if (returned) spare.push(returned.message as ArrayBuffer);
    const buffer = spare.pop();
    if (buffer) return new Uint8Array(buffer);
    if (allocated < BATCH_BUFFERS) {
      allocated++;
      return new Uint8Array(batchCapacity);
    }
    if (Atomics.load(control, Control.Cancel) !== 0) return undefined;
    Atomics.wait(control, Control.Returned, Atomics.load(control, Control.Returned), 100);
  }
}

const cancelRequested = (): boolean => Atomics.load(control, Control.Cancel) !== 0;

/** One scan request: walks its ranges chunk by chunk and posts full batches as it goes. */
class Scan {
  pagesScanned = 0;
  dirtyPages = 0;
  /** The batch being filled; undefined once the scan is cancelled or finished. */
  #batch: RecordBatch | undefined;
  readonly #started = performance.now();
  readonly #pass: number;
  readonly #force: boolean;

  constructor(pass: number, force: boolean) {
    this.#pass = pass;
    this.#force = force;
    // Buffers lost with a dead connection never come back: each scan starts its own count.
    allocated = spare.length;
    this.#batch = this.#nextBatch();
  }

  run(ranges: readonly PageRange[]): void {
    for (const [start, end] of ranges) {
      for (let first = start; first < end && this.#batch; first += chunkPages) {
        if (cancelRequested()) this.#batch = this.#giveBack(this.#batch);
        else this.#chunk(first, Math.min(chunkPages, end - first));
      }
    }
    if (this.#batch) {
      this.#post(this.#batch);
      this.#batch = undefined;
    }
    post({ type: 'done', stats: {
      pagesScanned: this.pagesScanned, dirtyPages: this.dirtyPages, scanMs: performance.now() - this.#started, deltaCacheBytes: tables.cache?.bytes ?? 0,
    } });
  }

  #chunk(first: number, pages: number): void {
    file.readPages(first, pages, readBuffer);
    // A slow link leaves the scanner time to fill the delta cache in pass 0 too.
    const fillCache = this.#pass > 0 || Atomics.load(control, Control.LinkBound) !== 0;
    const choice = { compress: Atomics.load(control, Control.Compress) !== 0, force: this.#force, fillCache };
    for (let k = 0; k < pages && this.#batch; k++) {
      const page = first + k;
      const hash = chunkHasher.hashAt(k * pageSize, pageSize);
      this.pagesScanned++;
      this.#batch.stats.scanned++;
      if (!this.#force && hash === targetHashes[page]) continue;
      this.dirtyPages++;
      if (!this.#batch.hasRoomForPage(pageSize)) {
        this.#post(this.#batch);
        this.#batch = this.#nextBatch();
        if (!this.#batch) return;
      }
      encoder.encode(this.#batch, page, readBuffer.subarray(k * pageSize, (k + 1) * pageSize), hash, choice);
    }
  }

  #nextBatch(): RecordBatch | undefined {
    const buffer = takeBuffer();
    return buffer && new RecordBatch(buffer, data.headerBytes);
  }

  /** Posts a batch with records; an empty one goes back to the spares. */
  #post(batch: RecordBatch): void {
    if (batch.count === 0) {
      this.#giveBack(batch);
      return;
    }
    post({ type: 'batch', message: batch.message, count: batch.count, stats: batch.stats }, [batch.bytes.buffer as ArrayBuffer]);
  }

  #giveBack(batch: RecordBatch): undefined {
    spare.push(batch.bytes.buffer as ArrayBuffer);
    return undefined;
  }
}

/**
 * Claims chunks through `claim` until none is left, hashes them and returns the runs of pages whose
 * content differs from what the target holds; `read` false hashes whatever the chunk buffer holds (the
 * warm-up). Claims only grow, so this thread's chunks, and its runs, come in ascending order.
 */
function findDirty(chunks: readonly PageRange[], claim: Int32Array, read = true): Extract<FromWorker, { type: 'dirty' }> {
  const dirty = new RangeCollector();
  let pagesScanned = 0;
  for (let n = Atomics.add(claim, 0, 1); n < chunks.length; n = Atomics.add(claim, 0, 1)) {
    const [first, end] = chunks[n]!;
    const pages = end - first;
    if (read) file.readPages(first, pages, readBuffer);
    for (let k = 0; k < pages; k++) {
      const page = first + k;
      if (chunkHasher.hashAt(k * pageSize, pageSize) !== targetHashes[page]) dirty.add(page);
    }
    pagesScanned += pages;
  }
  return { type: 'dirty', ranges: dirty.done(), pagesScanned };
}

/** When an idle thread runs JavaScript after `warmUp`, so that the compiled code is in place (see the end of this file). */
const INSTALL_TICKS_MS = [50, 250, 1000, 4000];

/** Pages hashed by `warmUp`: enough for V8 to compile `findDirty` (measured with --trace-opt). */
const WARM_UP_PAGES = 1 << 14;

/**
 * The paused scan runs once per migration, inside the pause. Left cold, that one run starts in V8's
 * interpreter, is compiled while it runs and loses its compiled code at its end (the feedback for what
 * follows the loop is missing): on this machine the first paused scan of a fresh pool took 1.3-1.6x
 * the CPU of later ones. So each thread runs `findDirty` before it reports ready, by turns over the
 * image's first chunk (the read) and over its chunk buffer half non-zero (both outcomes of the compare).
 */
function warmUp(): void {
  const pages = Math.min(chunkPages, targetHashes.length);
  if (pages === 0) return;
  // Cloned as a request's chunks are (postMessage), so the compiled code expects their shape; claimed
  // through a counter of this thread's own, since the others warm up at the same time.
  const chunks = structuredClone([[0, pages]]) as PageRange[];
  const claim = new Int32Array(new SharedArrayBuffer(4));
  for (let hashed = 0; hashed < WARM_UP_PAGES; hashed += 2 * pages) {
    findDirty(chunks, claim.fill(0));
    readBuffer.fill(0);
    readBuffer.fill(1, 0, Math.floor(pages / 2) * pageSize);
    findDirty(chunks, claim.fill(0), false);
  }
}

port.on('message', (message: ToWorker) => {
  try {
    if (message.type === 'scan') {
      new Scan(message.pass, message.force).run(message.ranges);
    } else if (message.type === 'find-dirty') {
      post(findDirty(message.chunks, claims));
    } else {
      // The target told us what it holds: deltas against anything else would decode to garbage.
      const dropped = tables.cache?.retainMatching((page) => targetHashes[page]!) ?? 0;
      tables.index?.clear();
      if (tables.index) rebuildIndex(tables.index);
      post({ type: 'adopted', droppedCacheEntries: dropped });
    }
  } catch (error) {
    post({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
  }
});
warmUp();
post({ type: 'ready' });
// V8 compiles findDirty on another thread and installs the code only when this thread next runs
// JavaScript; a helper thread runs none until the pause, which would then start in the slower code.
for (const ms of INSTALL_TICKS_MS) setTimeout(() => undefined, ms).unref();
