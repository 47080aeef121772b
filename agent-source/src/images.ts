import { checkName, ErrorCode, FerryError } from '@ferry/protocol';
import { ImageFile } from '@ferry/pages';
import type { MigrateOptions } from './options.js';

/** Checks the images before anything else happens; errors here mean nothing was started. */
export interface DescribedImage {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  readonly pageSize: number;
}

export function describeImages(options: MigrateOptions): DescribedImage[] {
  if (options.images.length === 0) throw new FerryError(ErrorCode.Internal, 'no image to migrate: give at least one --image NAME=PATH');
  checkName(options.migrationId, 'migration id');
  return options.images.map((image) => {
    checkName(image.name, 'image name');
    let file: ImageFile;
    try {
      file = ImageFile.openRead(image.path, options.pageSize);
    } catch (error) {
      throw new FerryError(ErrorCode.Io, `image ${image.name}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const size = file.size;
    file.close();
    return { name: image.name, path: image.path, size, pageSize: options.pageSize };
  });
}

