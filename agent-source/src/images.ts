import { statSync, type Stats } from 'node:fs';
import { checkName, ErrorCode, FerryError } from '@ferry/protocol';
import type { MigrateOptions } from './options.js';
import type { StateBlob } from './hooks.js';

/** Checks the images before anything else happens; errors here mean nothing was started. */
export interface DescribedImage {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  readonly pageSize: number;
  /** The file's identity: a different device or inode at `path` later means the image was replaced. */
  readonly dev: number;
  readonly ino: number;
}

/**
 * Every image must be a regular file of whole pages. Checked with stat before anything opens it: opening
 * a FIFO blocks (and ignores signals), so non-regular files are refused by their type first.
 */
export function describeImages(options: MigrateOptions): DescribedImage[] {
  if (options.images.length === 0) throw new FerryError(ErrorCode.Internal, 'no image to migrate: give at least one --image NAME=PATH');
  checkName(options.migrationId, 'migration id');
  return options.images.map((image) => {
    checkName(image.name, 'image name');
    const stat = regularFile(image.path, `image ${image.name}`);
    if (stat.size === 0 || stat.size % options.pageSize !== 0) {
      throw new FerryError(ErrorCode.Io, `image ${image.name}: ${image.path} is ${stat.size} bytes, not a positive multiple of the ${options.pageSize}-byte page size`);
    }
    return { name: image.name, path: image.path, size: stat.size, pageSize: options.pageSize, dev: stat.dev, ino: stat.ino };
  });
}

/** --state files are read after the pause: refuse what is not a regular file now, before anything starts. */
export function checkStateFiles(blobs: readonly StateBlob[]): void {
  for (const blob of blobs) regularFile(blob.path, `state blob ${blob.name}`);
}

/**
 * The image must stay the file it was, at the size it had: a source image that was truncated, grown or
 * replaced mid-migration would commit a target image that is not the source's.
 */
export function checkImagesUnchanged(images: readonly DescribedImage[]): void {
  for (const image of images) {
    let stat: Stats;
    try {
      stat = statSync(image.path);
    } catch (error) {
      throw new FerryError(ErrorCode.Io, `image ${image.name} (${image.path}) is gone: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (stat.dev !== image.dev || stat.ino !== image.ino) {
      throw new FerryError(ErrorCode.Io, `image ${image.name} (${image.path}) was replaced by another file during the migration`);
    }
    if (stat.size !== image.size) {
      throw new FerryError(ErrorCode.Io, `image ${image.name} (${image.path}) changed size during the migration: ${image.size} bytes at the start, ${stat.size} now`);
    }
  }
}

function regularFile(path: string, what: string): Stats {
  let stat: Stats;
  try {
    stat = statSync(path);
  } catch (error) {
    throw new FerryError(ErrorCode.Io, `${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (!stat.isFile()) throw new FerryError(ErrorCode.Io, `${what}: ${path} is not a regular file`);
  return stat;
}
