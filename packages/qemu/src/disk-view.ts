/**
 * A read-only view of a disk node as a plain file, for the disks ferry cannot read from a file of their
 * own (qcow2 and the other formats, or a raw node over NBD): QEMU's FUSE export mounts the node's
 * guest-visible bytes on an empty file ferry creates, and the scan preads that file as if it were a raw
 * image. The bytes come through QEMU's block layer, so they are exactly what the guest sees, and the
 * node's dirty bitmaps still say which blocks changed.
 *
 *     open()       create the empty file (O_EXCL|O_NOFOLLOW: never an existing file or a link planted in its
 *                  place); block-export-add {type: fuse, node-name, mountpoint, writable: false}
 *     dropCache()  before reading blocks the guest may have written since they were last read (below)
 *     close()      block-export-del (waiting for BLOCK_EXPORT_DELETED, which unmounts it); remove the file
 *
 * The kernel caches what was read from a FUSE file, and QEMU before 10.1 does not open its export with
 * direct I/O, so a block read once stays cached while the guest rewrites it through QEMU: a later read
 * would return the old bytes. Opening the file again drops that cache (FUSE invalidates an inode's pages
 * on every open without keep-cache), so each pass opens it once, right after its bitmap is frozen: every
 * block the frozen bitmap names is then read fresh, and a write after the freeze is in the next bitmap.
 */
import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { silentLogger, type QemuLogger } from './logger.js';
import { QmpError, type QmpClient } from './qmp.js';
import { DiskLookupError } from './disks.js';
import { deleteBlockExport } from './disk-bitmaps.js';

/** The export id of a disk's view; `ferry recover` finds it by this name. */
export const diskViewId = (prefix: string): string => `${prefix}-view`;

export interface DiskViewOptions {
  readonly node: string;
  /** The disk's bitmap prefix (diskBitmapPrefix): the view is export `PREFIX-view`. */
  readonly prefix: string;
  /** The file the view is mounted on, in a folder only this user can write; created here (it must not exist), removed by close(). */
  readonly path: string;
  /** Named in errors: the user's --disk NAME=NODE. */
  readonly label: string;
  readonly timeoutMs?: number;
  readonly logger?: QemuLogger;
}

export class DiskFileView {
  readonly #qmp: QmpClient;
  readonly #options: DiskViewOptions;
  #open = true;

  private constructor(qmp: QmpClient, options: DiskViewOptions) {
    this.#qmp = qmp;
    this.#options = options;
  }

  get path(): string {
    return this.#options.path;
  }

  /** Mounts the node's bytes on `options.path`; a QEMU without FUSE exports gets an error that says what to do. */
  static async open(qmp: QmpClient, options: DiskViewOptions): Promise<DiskFileView> {
    await (await open(options.path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)).close();
    const id = diskViewId(options.prefix);
    try {
      await qmp.execute('block-export-add', { type: 'fuse', id, 'node-name': options.node, mountpoint: options.path, writable: false });
    } catch (error) {
      await rm(options.path, { force: true });
      if (!(error instanceof QmpError && error.kind === 'qemu')) throw error;
      throw new DiskLookupError(`disk '${options.label}' is not a raw file, and this QEMU cannot show it as one through a FUSE export ` +
        `(${error.desc}); convert it with qemu-img convert -O raw, or run a QEMU built with FUSE and /dev/fuse present`);
    }
    (options.logger ?? silentLogger).info({ node: options.node, path: options.path }, 'disk read through a FUSE export');
    return new DiskFileView(qmp, options);
  }

  /** Drops the kernel's cache of the view (see above), so the next reads come from QEMU. */
  async dropCache(): Promise<void> {
    const handle = await open(this.#options.path, 'r');
    await handle.close();
  }

  /** Unmounts and removes the view. A QEMU that already quit took its export with it. */
  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    const id = diskViewId(this.#options.prefix);
    try {
      await deleteBlockExport(this.#qmp, id, this.#options.timeoutMs ?? 30_000);
    } catch (error) {
      if (!(error instanceof QmpError && error.kind === 'closed')) throw error;
      (this.#options.logger ?? silentLogger).info({ id }, 'QEMU is gone; its FUSE export went with it');
    }
    await rm(this.#options.path, { force: true });
  }
}
