/**
 * A scan worker: reads its slice of the image, hashes every page, and encodes the dirty ones into
 * ready-to-send record batches. Runs synchronously (blocking reads, Atomics.wait for credits): the main
 * thread only frames batches and writes them to the socket.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { RECORD_HEADER_BYTES } from '@ferry/protocol';
import { ContentIndex } from './content-index.js';
import { DeltaCache } from './delta-cache.js';
import { createPageHasher, zeroPageHash } from './hash.js';
import { ImageFile } from './image-file.js';
import { emptyStats, encodePage, newSampler, type BatchStats, type EncoderState } from './page-encoder.js';
import { BATCH_BUFFERS, Control, type FromWorker, type ScanWorkerData, type ToWorker } from './scan-protocol.js';

const data = workerData as ScanWorkerData;
const port = parentPort!;
const post = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

const hasher = await createPageHasher();
const control = new Int32Array(data.control);
const sentHashes = new BigUint64Array(data.sentHashes);
const file = ImageFile.openRead(data.imagePath, data.pageSize);
const pageSize = data.pageSize;
const chunkPages = Math.max(1, Math.floor((1 << 20) / pageSize));
const readBuffer = new Uint8Array(chunkPages * pageSize);
const scratch = new Uint8Array(pageSize);
const batchCapacity = Math.max(data.batchBytes, data.headerBytes + RECORD_HEADER_BYTES + pageSize);

const rebuildIndex = (index: ContentIndex): void => {
  for (let page = data.first; page < data.end; page++) {
    if (sentHashes[page] !== state.zeroHash) index.insert(sentHashes[page]!, page);
  }
};
const state: EncoderState = {
  pageSize,
  zeroHash: zeroPageHash(hasher, pageSize),
  sentHashes,
  cache: data.delta ? new DeltaCache(data.deltaCacheBytes, pageSize) : undefined,
  index: new ContentIndex(data.end - data.first, (index) => rebuildIndex(index)),
  sampler: newSampler(),
};

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

function scan(pass: number, ranges: ReadonlyArray<readonly [number, number]>, force: boolean): void {
  const started = performance.now();
  let pagesScanned = 0;
  let dirtyPages = 0;
  // Buffers lost with a dead connection never come back: each scan starts its own count.
  allocated = spare.length;
  let out: Uint8Array | undefined = takeBuffer();
  let view = new DataView(out?.buffer ?? new ArrayBuffer(0));
  let offset = data.headerBytes;
  let count = 0;
  let stats: BatchStats = emptyStats();
  let cancelled = out === undefined;

  const flush = (last: boolean): void => {
    if (count === 0 || !out) return;
    post({ type: 'batch', message: out.subarray(0, offset), count, stats }, [out.buffer as ArrayBuffer]);
    out = last ? undefined : takeBuffer();
    if (last) return;
    if (!out) {
      cancelled = true;
      return;
    }
    view = new DataView(out.buffer);
    offset = data.headerBytes;
    count = 0;
    stats = emptyStats();
  };

  for (const [start, end] of ranges) {
    for (let first = start; first < end && !cancelled; first += chunkPages) {
      if (Atomics.load(control, Control.Cancel) !== 0) {
        cancelled = true;
        break;
      }
      const pages = Math.min(chunkPages, end - first);
      file.readPages(first, pages, readBuffer);
      const compress = Atomics.load(control, Control.Compress) !== 0;
      // A slow link leaves the scanner time to fill the delta cache in pass 0 too.
      const choice = { compress, force, fillCache: pass > 0 || Atomics.load(control, Control.LinkBound) !== 0 };
      for (let k = 0; k < pages; k++) {
        const page = first + k;
        const bytes = readBuffer.subarray(k * pageSize, (k + 1) * pageSize);
        const hash = hasher.hashPage(bytes);
        pagesScanned++;
        stats.scanned++;
        if (!force && hash === sentHashes[page]) continue;
        dirtyPages++;
        if (offset + RECORD_HEADER_BYTES + pageSize > out!.length) {
          flush(false);
          if (cancelled) break;
        }
        offset = encodePage(state, choice, page, bytes, hash, scratch, out!, view, offset, stats);
        count++;
      }
    }
  }
  if (!cancelled) flush(true);
  if (out) spare.push(out.buffer as ArrayBuffer);
  post({ type: 'done', stats: { pagesScanned, dirtyPages, scanMs: performance.now() - started } });
}

port.on('message', (message: ToWorker) => {
  try {
    if (message.type === 'scan') {
      scan(message.pass, message.ranges, message.force);
    } else {
      // The target told us what it holds: deltas against anything else would decode to garbage.
      const dropped = state.cache?.retainMatching((page) => sentHashes[page]!) ?? 0;
      state.index?.clear();
      if (state.index) rebuildIndex(state.index);
      post({ type: 'adopted', droppedCacheEntries: dropped });
    }
  } catch (error) {
    post({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
  }
});
post({ type: 'ready' });
