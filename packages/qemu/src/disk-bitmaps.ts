/**
 * A chain of QEMU block dirty bitmaps on one disk node: which blocks the guest wrote since ferry last
 * looked. Generation n is the bitmap `PREFIX-n`.
 *
 *     start()     block-dirty-bitmap-add PREFIX-0                        (before pass 0 reads the disk)
 *     freeze()    transaction { add PREFIX-(n+1), disable PREFIX-n }    (each later pass)
 *                 nbd-server-start on a unix socket (once)
 *                 block-export-add PREFIX-n read-only, bitmaps [{node, name: PREFIX-n}]
 *                 NBD BLOCK_STATUS on qemu:dirty-bitmap:PREFIX-n -> the dirty extents
 *     release(n)  block-export-del, then block-dirty-bitmap-remove of every frozen generation <= n
 *                 (once the target holds those blocks; until then the chain can answer again)
 *     close()     removes every export and bitmap it made, and the NBD server it started
 *
 * QEMU keeps an exported bitmap busy until the export is gone (BLOCK_EXPORT_DELETED), so removal waits
 * for that event.
 */
import { rm } from 'node:fs/promises';
import { NbdClient } from '@ferry/nbd';
import { silentLogger, type QemuLogger } from './logger.js';
import { QmpError, type QmpClient } from './qmp.js';

/** The names of one migration's bitmaps and exports for one disk: `ferry-<migration id>-<disk>-<generation>`. */
export const diskBitmapPrefix = (migrationId: string, disk: string): string => `ferry-${migrationId}-${disk}`;

/** qemu:dirty-bitmap status flag: the block was written. */
const DIRTY = 1;

export interface DiskBitmapOptions {
  readonly node: string;
  /** Bitmap and export names start with this (a QEMU id: a letter first). */
  readonly prefix: string;
  /** Where the NBD server listens (started here unless QEMU already runs one on that path). */
  readonly nbdSocket: string;
  /** Bytes per bitmap bit: ferry's page size, so an extent is exactly the pages to send. */
  readonly granularity: number;
  readonly timeoutMs?: number;
  readonly logger?: QemuLogger;
}

export interface DirtyExtent {
  readonly offset: number;
  readonly length: number;
}

export interface FrozenBitmap {
  readonly generation: number;
  readonly extents: DirtyExtent[];
}

export class DiskBitmapChain {
  readonly #qmp: QmpClient;
  readonly #options: DiskBitmapOptions;
  readonly #log: QemuLogger;
  readonly #timeoutMs: number;
  /** The generation recording now. */
  #current = 0;
  /** Frozen generations not yet released, and whether each still has its export. */
  readonly #frozen = new Map<number, { exported: boolean }>();
  #serverStarted = false;
  #serverReady = false;

  private constructor(qmp: QmpClient, options: DiskBitmapOptions) {
    this.#qmp = qmp;
    this.#options = options;
    this.#log = options.logger ?? silentLogger;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Starts recording writes to the node. */
  static async start(qmp: QmpClient, options: DiskBitmapOptions): Promise<DiskBitmapChain> {
    const chain = new DiskBitmapChain(qmp, options);
    await qmp.execute('block-dirty-bitmap-add', { node: options.node, name: chain.#name(0), granularity: options.granularity });
    chain.#log.info({ node: options.node, bitmap: chain.#name(0) }, 'dirty bitmap started');
    return chain;
  }

  /** Freezes the recording bitmap, starts the next, and returns the frozen one's dirty extents. */
  async freeze(): Promise<FrozenBitmap> {
    const { node, granularity } = this.#options;
    const frozen = this.#current;
    const name = this.#name(frozen);
    await this.#qmp.execute('transaction', {
      actions: [
        { type: 'block-dirty-bitmap-add', data: { node, name: this.#name(frozen + 1), granularity } },
        { type: 'block-dirty-bitmap-disable', data: { node, name } },
      ],
    });
    this.#current = frozen + 1;
    this.#frozen.set(frozen, { exported: false });
    await this.#ensureServer();
    await this.#qmp.execute('block-export-add', { type: 'nbd', id: name, 'node-name': node, name, writable: false, bitmaps: [{ node, name }] });
    this.#frozen.set(frozen, { exported: true });
    const context = `qemu:dirty-bitmap:${name}`;
    const client = await NbdClient.connect(this.#options.nbdSocket, { exportName: name, metaContexts: [context], timeoutMs: this.#timeoutMs });
    try {
      const extents = (await client.extents(context)).filter((e) => (e.flags & DIRTY) !== 0).map(({ offset, length }) => ({ offset, length }));
      this.#log.debug({ bitmap: name, extents: extents.length, bytes: extents.reduce((s, e) => s + e.length, 0) }, 'dirty bitmap frozen');
      return { generation: frozen, extents };
    } finally {
      await client.close();
    }
  }

  /** The target holds every block of generations <= `generation`: their exports and bitmaps go. */
  async release(generation: number): Promise<void> {
    for (const [n, state] of [...this.#frozen].sort(([a], [b]) => a - b)) {
      if (n > generation) break;
      if (state.exported) await this.#deleteExport(this.#name(n));
      this.#frozen.set(n, { exported: false });
      await this.#qmp.execute('block-dirty-bitmap-remove', { node: this.#options.node, name: this.#name(n) });
      this.#frozen.delete(n);
    }
  }

  /** Leaves the node as ferry found it: no export, no bitmap, no NBD server of ours. Never throws. */
  async close(): Promise<void> {
    if (this.#qmp.closed) {
      await this.#removeSocket(); // QEMU is gone (it quit after the commit), and its bitmaps with it
      return;
    }
    const names = [...this.#frozen.keys(), this.#current].map((n) => this.#name(n));
    const attempt = async (what: string, work: () => Promise<unknown>): Promise<void> => {
      try {
        await work();
      } catch (error) {
        if (!(error instanceof QmpError && error.kind === 'qemu' && /not found|does not exist|cannot find/i.test(error.desc))) {
          this.#log.warn({ err: String(error) }, `could not remove ${what}`);
        }
      }
    };
    for (const [n, state] of this.#frozen) if (state.exported) await attempt(`export ${this.#name(n)}`, () => this.#deleteExport(this.#name(n)));
    for (const name of names) await attempt(`bitmap ${name}`, () => this.#qmp.execute('block-dirty-bitmap-remove', { node: this.#options.node, name }));
    this.#frozen.clear();
    if (this.#serverStarted) await attempt('the NBD server', () => this.#qmp.execute('nbd-server-stop'));
    await this.#removeSocket();
    this.#serverReady = false;
  }

  /** QEMU leaves its listening socket file behind; the one of a server we started goes with it. */
  async #removeSocket(): Promise<void> {
    if (this.#serverStarted) await rm(this.#options.nbdSocket, { force: true });
    this.#serverStarted = false;
  }

  #name(generation: number): string {
    return `${this.#options.prefix}-${generation}`;
  }

  /** Starts QEMU's NBD server on our socket, or uses the one already running there. */
  async #ensureServer(): Promise<void> {
    if (this.#serverReady) return;
    try {
      await this.#qmp.execute('nbd-server-start', { addr: { type: 'unix', data: { path: this.#options.nbdSocket } } });
      this.#serverStarted = true;
    } catch (error) {
      if (!(error instanceof QmpError && error.kind === 'qemu' && /already running/i.test(error.desc))) throw error;
      this.#log.info({ socket: this.#options.nbdSocket }, 'QEMU already runs an NBD server; using it at this socket');
    }
    this.#serverReady = true;
  }

  async #deleteExport(id: string): Promise<void> {
    await deleteBlockExport(this.#qmp, id, this.#timeoutMs);
  }
}

/**
 * Removes what a DiskBitmapChain (and a DiskFileView) with this `prefix` left behind when its process
 * died (`ferry recover`): every export and bitmap named `PREFIX-<generation>`, and the export
 * `PREFIX-view`. Returns what it removed.
 */
export async function removeDiskLeftovers(qmp: QmpClient, prefix: string, timeoutMs = 30_000): Promise<string[]> {
  const pattern = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+|view)$`);
  const ours = (name: unknown): name is string => typeof name === 'string' && pattern.test(name);
  const removed: string[] = [];
  const exports = await qmp.execute<Array<{ id?: unknown }>>('query-block-exports');
  for (const { id } of exports) {
    if (!ours(id)) continue;
    await deleteBlockExport(qmp, id, timeoutMs);
    removed.push(`export ${id}`);
  }
  const nodes = await qmp.execute<Array<{ 'node-name'?: string; 'dirty-bitmaps'?: Array<{ name?: unknown }> }>>('query-named-block-nodes', { flat: true });
  for (const node of nodes) {
    for (const { name } of node['dirty-bitmaps'] ?? []) {
      if (!ours(name) || !node['node-name']) continue;
      await qmp.execute('block-dirty-bitmap-remove', { node: node['node-name'], name });
      removed.push(`bitmap ${name}`);
    }
  }
  return removed;
}

/** Removes export `id` and waits until QEMU says it is gone (only then are its bitmap and mount free). */
export async function deleteBlockExport(qmp: QmpClient, id: string, timeoutMs: number): Promise<void> {
  const deleted = qmp.waitForEvent('BLOCK_EXPORT_DELETED', (event) => event.data['id'] === id, timeoutMs);
  deleted.catch(() => {});
  await qmp.execute('block-export-del', { id, mode: 'hard' });
  await deleted;
}
