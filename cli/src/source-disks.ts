/**
 * `--disk NAME=NODE`: a QEMU guest disk migrated as image NAME. The CLI resolves NODE over QMP, adds
 * the disk's raw file as an image (or, for a qcow2 or other non-raw node, a read-only FUSE view of it
 * that QEMU serves), and gives the agent a DirtyTracker backed by QEMU dirty bitmaps (exported over
 * NBD), so the agent stays hypervisor-agnostic.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DirtyTracker, MigrateOptions } from '@ferry/agent-source';
import type { PageRange } from '@ferry/protocol';
import { DiskBitmapChain, diskBitmapPrefix, DiskFileView, DiskLookupError, resolveDisk, type DirtyExtent, type DiskNode, type QemuLogger, type QmpClient } from '@ferry/qemu';
import { pairs, type MigrateArgs } from './migrate-options.js';
import { UsageError } from './usage.js';

export interface SourceDisks {
  /** The migrate options with each disk's file added as an image. */
  readonly options: MigrateOptions;
  readonly dirtyTrackers: ReadonlyMap<string, DirtyTracker>;
  /**
   * The private folder (mkdtemp, 0700) of the disks' FUSE views and NBD sockets, when there are disks:
   * no other user can put a file or a link where ferry creates them. The journal records it for recover.
   */
  readonly diskDir: string | undefined;
  /** Removes the FUSE views of non-raw disks and the folder; call it once the migration has ended. */
  close(): Promise<void>;
}

/** Checks --disk before anything connects: it needs --qmp, and its names must not clash with --image. */
export function checkDiskArgs(args: MigrateArgs): void {
  if (!args.disk?.length) return;
  if (!args.qmp) throw new UsageError('--disk NAME=NODE needs --qmp SOCKET (the disk is tracked by QEMU)');
  const images = new Set(pairs(args.image ?? [], '--image').map(([name]) => name));
  for (const [name] of pairs(args.disk, '--disk')) {
    if (images.has(name)) throw new UsageError(`--disk ${name} has the name of an --image`);
  }
}

/** Resolves every --disk over QMP; an unknown or unreadable NODE is a usage error naming what QEMU has. */
export async function buildSourceDisks(diskArgs: readonly string[] | undefined, options: MigrateOptions, qmp: QmpClient | undefined, logger: QemuLogger): Promise<SourceDisks> {
  const disks = diskArgs?.length ? pairs(diskArgs, '--disk') : [];
  if (disks.length === 0 || !qmp) return { options, dirtyTrackers: new Map(), diskDir: undefined, close: async () => {} };
  const diskDir = await mkdtemp(join(tmpdir(), DISK_DIR_PREFIX));
  const views: DiskFileView[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(views.map((view) => view.close()));
    await rm(diskDir, { recursive: true, force: true });
  };
  const images = [...options.images];
  const dirtyTrackers = new Map<string, DirtyTracker>();
  try {
    for (const [name, nodeArg] of disks) {
      const disk = await lookUp(qmp, name, nodeArg);
      const prefix = diskBitmapPrefix(options.migrationId, name);
      const view = disk.file === undefined
        ? await DiskFileView.open(qmp, { node: disk.node, prefix, path: join(diskDir, `view-${name}`), label: `${name}=${nodeArg}`, logger })
        : undefined;
      if (view) views.push(view);
      images.push({ name, path: view?.path ?? disk.file! });
      const chain = { node: disk.node, prefix, nbdSocket: join(diskDir, `nbd-${diskTag(name)}.sock`), granularity: options.pageSize, logger };
      dirtyTrackers.set(name, new QemuDiskTracker(qmp, chain, view));
    }
  } catch (error) {
    await close();
    if (error instanceof DiskLookupError) throw new UsageError(error.message);
    throw error;
  }
  return { options: { ...options, images }, dirtyTrackers, diskDir, close };
}

async function lookUp(qmp: QmpClient, name: string, nodeArg: string): Promise<DiskNode> {
  try {
    return await resolveDisk(qmp, nodeArg);
  } catch (error) {
    if (error instanceof DiskLookupError) throw new DiskLookupError(`--disk ${name}=${nodeArg}: ${error.message}`);
    throw error;
  }
}

/** A DirtyTracker over a QEMU dirty-bitmap chain; byte extents become page ranges. A disk read through a FUSE view gets that view's cache dropped at each freeze. */
class QemuDiskTracker implements DirtyTracker {
  readonly kind = 'qemu-bitmap';
  readonly #qmp: QmpClient;
  readonly #options: Parameters<typeof DiskBitmapChain.start>[1];
  readonly #view: DiskFileView | undefined;
  #chain: DiskBitmapChain | undefined;

  constructor(qmp: QmpClient, options: Parameters<typeof DiskBitmapChain.start>[1], view: DiskFileView | undefined) {
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

/** The private folders of disk views and sockets start with this; recover removes only such a folder. */
export const DISK_DIR_PREFIX = 'ferry-disks-';

/** A unix socket path must stay under 108 bytes, whatever the length of the disk name. */
const diskTag = (disk: string): string => createHash('sha256').update(disk).digest('hex').slice(0, 16);

/** The --disk names, for the journal: `ferry recover` removes their bitmaps if ferry migrate was killed. */
export const diskNames = (diskArgs: readonly string[] | undefined): string[] => (diskArgs?.length ? pairs(diskArgs, '--disk').map(([name]) => name) : []);

export function toPageRanges(extents: readonly DirtyExtent[], pageSize: number): PageRange[] {
  return extents.map(({ offset, length }) => [Math.floor(offset / pageSize), Math.ceil((offset + length) / pageSize)]);
}
