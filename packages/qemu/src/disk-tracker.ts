/**
 * A guest disk's dirty tracker for the source agent: a QEMU dirty-bitmap chain (disk-bitmaps.ts) whose
 * byte extents become page ranges. The agent's DirtyTracker seam is matched structurally (packages do
 * not import agents); the compiler checks the fit where the CLI hands the tracker to the agent.
 */
import type { PageRange } from '@ferry/protocol';
import type { DiskFileView } from './disk-view.js';
import { DiskBitmapChain, type DirtyExtent, type DiskBitmapOptions } from './disk-bitmaps.js';
import type { QmpClient } from './qmp.js';

/** A disk read through a FUSE view (non-raw) gets that view's cache dropped at each freeze, so reads see what the bitmap marks. */
export class QemuDiskTracker {
  readonly kind = 'qemu-bitmap';
  readonly #qmp: QmpClient;
  readonly #options: DiskBitmapOptions;
  readonly #view: DiskFileView | undefined;
  #chain: DiskBitmapChain | undefined;

  constructor(qmp: QmpClient, options: DiskBitmapOptions, view: DiskFileView | undefined) {
    this.#qmp = qmp;
    this.#options = options;
    this.#view = view;
  }

  async start(): Promise<void> {
    this.#chain = await DiskBitmapChain.start(this.#qmp, this.#options);
    await this.#view?.dropCache();
  }

  async freeze(): Promise<{ generation: number; ranges: PageRange[] }> {
    if (!this.#chain) throw new Error('the disk tracker was not started');
    const frozen = await this.#chain.freeze();
    await this.#view?.dropCache();
    return { generation: frozen.generation, ranges: toPageRanges(frozen.extents, this.#options.granularity) };
  }

  async release(generation: number): Promise<void> {
    await this.#chain?.release(generation);
  }

  async close(): Promise<void> {
    await this.#chain?.close();
  }
}

/** The pages that byte extents touch, a partly written page included. */
export function toPageRanges(extents: readonly DirtyExtent[], pageSize: number): PageRange[] {
  return extents.map(({ offset, length }) => [Math.floor(offset / pageSize), Math.ceil((offset + length) / pageSize)]);
}
