/**
 * `--disk NAME=NODE`: a QEMU guest disk migrated as image NAME. The CLI resolves NODE over QMP, adds
 * the disk's raw file as an image (or, for a qcow2 or other non-raw node, a read-only FUSE view of it
 * that QEMU serves), and gives the agent a DirtyTracker backed by QEMU dirty bitmaps (exported over
 * NBD; @ferry/qemu's QemuDiskTracker), so the agent stays hypervisor-agnostic.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DirtyTracker, MigrateOptions } from '@ferry/agent-source';
import { diskBitmapPrefix, DiskFileView, DiskLookupError, QemuDiskTracker, resolveDisk, type DiskNode, type QemuLogger, type QmpClient } from '@ferry/qemu';
import type { MigratePlan } from './migrate-plan.js';
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

/** Resolves every --disk over QMP; an unknown or unreadable NODE is a usage error naming what QEMU has. */
export async function buildSourceDisks(disks: MigratePlan['disks'], options: MigrateOptions, qmp: QmpClient, logger: QemuLogger): Promise<SourceDisks> {
  if (disks.length === 0) return { options, dirtyTrackers: new Map(), diskDir: undefined, close: async () => {} };
  const diskDir = await mkdtemp(join(tmpdir(), DISK_DIR_PREFIX));
  const views: DiskFileView[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(views.map((view) => view.close()));
    await rm(diskDir, { recursive: true, force: true });
  };
  const images = [...options.images];
  const dirtyTrackers = new Map<string, DirtyTracker>();
  try {
    for (const { name, node } of disks) {
      const disk = await lookUp(qmp, name, node);
      const prefix = diskBitmapPrefix(options.migrationId, name);
      const view = disk.file === undefined
        ? await DiskFileView.open(qmp, { node: disk.node, prefix, path: join(diskDir, `view-${name}`), label: `${name}=${node}`, logger })
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

async function lookUp(qmp: QmpClient, name: string, node: string): Promise<DiskNode> {
  try {
    return await resolveDisk(qmp, node);
  } catch (error) {
    if (error instanceof DiskLookupError) throw new DiskLookupError(`--disk ${name}=${node}: ${error.message}`);
    throw error;
  }
}

/** The private folders of disk views and sockets start with this; recover removes only such a folder. */
export const DISK_DIR_PREFIX = 'ferry-disks-';

/** A unix socket path must stay under 108 bytes, whatever the length of the disk name. */
const diskTag = (disk: string): string => createHash('sha256').update(disk).digest('hex').slice(0, 16);
