/**
 * A scan worker: reads its slice of the image, hashes every page, and encodes the dirty ones into
 * ready-to-send record batches. Runs synchronously (blocking reads, Atomics.wait for credits): the main
 * thread only frames batches and writes them to the socket.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RECORD_HEADER_BYTES } from '@ferry/protocol';
import { ContentIndex } from './content-index.js';
import { DeltaCache } from './delta-cache.js';
import { createPageHasher, zeroPageHash } from './hash.js';
import { ImageFile } from './image-file.js';
import { emptyStats, encodePage, type BatchStats, type EncoderState } from './page-encoder.js';
import { Control, type FromWorker, type ScanWorkerData, type ToWorker } from './scan-protocol.js';

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
const batchCapacity = Math.max(data.batchBytes, RECORD_HEADER_BYTES + pageSize);

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
};

/** Blocks until the main thread has room for another batch; false when the scan was cancelled. */
function takeCredit(): boolean {
  for (;;) {
    if (Atomics.load(control, Control.Cancel) !== 0) return false;
    const credits = Atomics.load(control, Control.Credits);
    if (credits > 0) {
      if (Atomics.compareExchange(control, Control.Credits, credits, credits - 1) === credits) return true;
      continue;
    }
    Atomics.wait(control, Control.Credits, credits, 100);
  }
}

function scan(ranges: ReadonlyArray<readonly [number, number]>, force: boolean): void {
  const started = performance.now();
  let pagesScanned = 0;
  let dirtyPages = 0;
  let out = new Uint8Array(batchCapacity);
  let view = new DataView(out.buffer);
  let offset = 0;
  let count = 0;
  let stats: BatchStats = emptyStats();
  let cancelled = false;

  const flush = (): void => {
    if (count === 0) return;
    if (!takeCredit()) {
      cancelled = true;
      return;
    }
    post({ type: 'batch', records: out.subarray(0, offset), count, stats }, [out.buffer as ArrayBuffer]);
    out = new Uint8Array(batchCapacity);
    view = new DataView(out.buffer);
    offset = 0;
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
      const choice = { compress: Atomics.load(control, Control.Compress) !== 0, force };
      for (let k = 0; k < pages; k++) {
        const page = first + k;
        const bytes = readBuffer.subarray(k * pageSize, (k + 1) * pageSize);
        const hash = hasher.hashPage(bytes);
        pagesScanned++;
        if (!force && hash === sentHashes[page]) continue;
        dirtyPages++;
        if (offset + RECORD_HEADER_BYTES + pageSize > out.length) {
          flush();
          if (cancelled) break;
        }
        offset = encodePage(state, choice, page, bytes, hash, scratch, out, view, offset, stats);
        count++;
      }
    }
  }
  if (!cancelled) flush();
  post({ type: 'done', stats: { pagesScanned, dirtyPages, scanMs: performance.now() - started } });
}

port.on('message', (message: ToWorker) => {
  try {
    if (message.type === 'scan') {
      scan(message.ranges, message.force);
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
