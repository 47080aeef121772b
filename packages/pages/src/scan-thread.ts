import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { PAGES_HEADER_BYTES, PAGES_BATCH_BYTES } from '@ferry/protocol';
import { Control, CONTROL_SLOTS, type FromWorker, type ScanWorkerData } from './scan-protocol.js';

/** What every scan worker of an image is started with (ScanPoolOptions extends it). */
export interface WorkerOptions {
  readonly imagePath: string;
  readonly pageSize: number;
  readonly delta: boolean;
  readonly compress: 'auto' | 'always' | 'never';
}

/**
 * A scan thread's young generation, in MiB (V8 sizes it as three semi-spaces: 3 gives 1 MiB each). By
 * default V8 grows it to 16 MiB semi-spaces per isolate, 8 MiB of which a scan worker had touched at its
 * peak; what a scan thread allocates per page (a hash, a record) dies young, so scavenges stay cheap.
 */
const YOUNG_GENERATION_MB = 3;

/** The main thread's handle on one scan worker thread. */
export interface ScanWorker {
  readonly worker: Worker;
  readonly first: number;
  readonly end: number;
  readonly control: Int32Array;
  readonly returnPort: MessagePort;
  /** Messages for the running operation; undefined when idle. */
  onMessage: ((message: FromWorker) => void) | undefined;
}

/** Starts one scan worker owning pages [first, end) (an empty slice makes a hash-only helper). */
export async function startWorker(
  options: WorkerOptions, shared: { readonly targetHashes: BigUint64Array; readonly claims: Int32Array }, first: number, end: number, deltaCacheBytes: number,
): Promise<ScanWorker> {
  const control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4));
  control[Control.Compress] = options.compress === 'always' ? 1 : 0;
  const channel = new MessageChannel();
  const data: ScanWorkerData = {
    imagePath: options.imagePath, pageSize: options.pageSize, first, end,
    targetHashes: shared.targetHashes.buffer as SharedArrayBuffer, control: control.buffer as SharedArrayBuffer, claims: shared.claims.buffer as SharedArrayBuffer,
    delta: options.delta && end > first, deltaCacheBytes,
    batchBytes: PAGES_BATCH_BYTES, headerBytes: PAGES_HEADER_BYTES, returnPort: channel.port2,
  };
  const worker = new Worker(new URL('./scan-worker.js', import.meta.url), {
    workerData: data, transferList: [channel.port2], resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
  });
  channel.port1.unref();
  const scanWorker: ScanWorker = { worker, first, end, control, returnPort: channel.port1, onMessage: undefined };
  worker.on('message', (message: FromWorker) => scanWorker.onMessage?.(message));
  try {
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      scanWorker.onMessage = (message) => (message.type === 'ready' ? resolve() : reject(new Error(`scan worker: ${JSON.stringify(message)}`)));
    });
  } catch (error) {
    await worker.terminate();
    throw error;
  } finally {
    scanWorker.onMessage = undefined;
  }
  return scanWorker;
}
