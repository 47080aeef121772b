import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, toFerryError, type Hello } from '@ferry/protocol';
import type { PageHasher } from '@ferry/pages';
import { ImageSink } from './image-sink.js';

/**
 * DIR/<migrationId>/ with a `.partial` sparse file per image (seeded from `--base` copies where given)
 * and an empty state/ folder. A stale, never-committed attempt with the same id is replaced; the caller
 * has already refused ids that were committed. On failure nothing is left behind.
 */
export function createSessionFiles(
  hello: Hello,
  root: string,
  bases: Readonly<Record<string, string>>,
  hasher: PageHasher,
): { dir: string; images: ImageSink[]; seeded: boolean } {
  const dir = join(root, hello.migrationId);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'state'), { recursive: true });
  const images: ImageSink[] = [];
  let seeded = false;
  try {
    for (const image of hello.images) {
      const base = bases[image.name];
      const finalPath = join(dir, image.name);
      if (base !== undefined) {
        images.push(ImageSink.fromBase(image.name, finalPath, base, image.size, image.pageSize, hasher));
        seeded = true;
      } else {
        images.push(ImageSink.create(image.name, finalPath, image.size, image.pageSize, hasher));
      }
    }
  } catch (error) {
    for (const sink of images) sink.close();
    rmSync(dir, { recursive: true, force: true });
    throw toFerryError(error, ErrorCode.Io);
  }
  return { dir, images, seeded };
}
