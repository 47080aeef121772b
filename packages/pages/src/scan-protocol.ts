import type { MessagePort } from 'node:worker_threads';
import type { PageRange } from '@ferry/protocol';
import type { BatchStats } from './page-encoder.js';

/** Slots of a worker's shared control array (Int32Array over a SharedArrayBuffer). */
export const Control = {
  /** Bumped (and notified) by the main thread each time it hands a batch buffer back. */
  Returned: 0,
  /** Non-zero: stop the running scan at the next page chunk and report done. */
  Cancel: 1,
  /** Non-zero: LZ4-compress pages when that saves bytes. */
  Compress: 2,
  /** Non-zero: the link, not the scanner, is the bottleneck (rate limit, full socket queue). */
  LinkBound: 3,
} as const;
export const CONTROL_SLOTS = 4;
/**
 * Batch buffers per worker: enough to keep the socket fed, few enough to bound memory (4 x ~1 MiB). They
 * also bound what the source queues on its socket: a batch goes out in its own buffer, which comes back
 * once the socket has written it. 8 fed loopback no faster and held 4 MiB more (docs/measurements.md).
 */
export const BATCH_BUFFERS = 4;
/** Bytes a scan thread reads (and hashes) at a time; the paused scan's threads claim work in these. */
export const CHUNK_BYTES = 1 << 20;
/** Pages per chunk of `CHUNK_BYTES`. */
export const chunkPagesOf = (pageSize: number): number => Math.max(1, Math.floor(CHUNK_BYTES / pageSize));

export interface ScanWorkerData {
  readonly imagePath: string;
  readonly pageSize: number;
  /** The contiguous slice of pages this worker owns: its delta cache and COPY index cover only these. */
  readonly first: number;
  readonly end: number;
  readonly targetHashes: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;
  /** One Int32 shared by every thread of the pool: the next chunk of a `find-dirty` request to claim. */
  readonly claims: SharedArrayBuffer;
  readonly delta: boolean;
  readonly deltaCacheBytes: number;
  /** Size of a batch buffer; its first `headerBytes` are left for the PAGES header. */
  readonly batchBytes: number;
  readonly headerBytes: number;
  /** Where the main thread hands sent batch buffers back, read with receiveMessageOnPort. */
  readonly returnPort: MessagePort;
}

export type ToWorker =
  | { readonly type: 'scan'; readonly pass: number; readonly ranges: readonly PageRange[]; readonly force: boolean }
  | { readonly type: 'adopt' }
  /**
   * Every thread gets the same chunks and claims them one at a time through `claims` (so a thread the
   * scheduler holds back leaves its share to the others), hashes them and says which pages differ from
   * what the target holds; encodes nothing.
   */
  | { readonly type: 'find-dirty'; readonly chunks: readonly PageRange[] };

export interface WorkerScanStats {
  readonly pagesScanned: number;
  readonly dirtyPages: number;
  readonly scanMs: number;
  /** Bytes the worker's delta cache holds after the scan. */
  readonly deltaCacheBytes: number;
}

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'batch'; readonly message: Uint8Array; readonly count: number; readonly stats: BatchStats }
  | { readonly type: 'done'; readonly stats: WorkerScanStats }
  | { readonly type: 'adopted'; readonly droppedCacheEntries: number }
  | { readonly type: 'dirty'; readonly ranges: PageRange[]; readonly pagesScanned: number }
  | { readonly type: 'failed'; readonly message: string };

/** A worker's answer to `adopt`: done, failed (its delta cache is then unsound), or not an answer yet. */
export function adoptOutcome(message: FromWorker): 'adopted' | Error | undefined {
  if (message.type === 'adopted') return 'adopted';
  if (message.type === 'failed') return new Error(`a scan worker could not adopt the target's page table: ${message.message}`);
  return undefined;
}
