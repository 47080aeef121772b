import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Hello } from '@ferry/protocol';

/**
 * An older copy of an image the operator gave the target (`--base NAME=PATH[,page=BYTES][,id=ID]`).
 * A source that uses it learns the hash of each of its pages (that is how it knows what not to send),
 * so the operator, not the source, decides what it may be used for: the image name, the page size the
 * hashes are taken over (a source cannot ask for 512-byte pages to narrow a secret down), and
 * optionally the one migration id allowed to use it.
 */
export interface BaseImage {
  readonly path: string;
  readonly pageSize: number;
  /** When set, only the migration with this id may be seeded from the base. */
  readonly migrationId?: string | undefined;
}

export const DEFAULT_BASE_PAGE_SIZE = 4096;

/**
 * For each image of a HELLO, the path of the base it may be seeded from, or undefined. A base the HELLO
 * does not fit (another page size or size, another migration) is simply not used: the image starts
 * empty, and why is logged here, never told to the source, which learns neither path nor size.
 */
export async function chooseBases(hello: Hello, bases: Readonly<Record<string, BaseImage>>, log: Logger): Promise<Array<string | undefined>> {
  return Promise.all(hello.images.map(async (image) => {
    const base = Object.hasOwn(bases, image.name) ? bases[image.name] : undefined;
    if (!base) return undefined;
    const skip = (why: string, detail: Record<string, unknown> = {}): undefined => {
      log.warn({ image: image.name, base: base.path, ...detail }, `--base not used for this migration: ${why}`);
      return undefined;
    };
    if (base.migrationId !== undefined && base.migrationId !== hello.migrationId) return skip('it is bound to another migration id', { boundTo: base.migrationId });
    if (image.pageSize !== base.pageSize) return skip('the source asks for another page size', { pageSize: image.pageSize, basePageSize: base.pageSize });
    try {
      const found = await stat(base.path);
      if (!found.isFile()) return skip('it is not a regular file');
      if (found.size !== image.size) return skip('its size differs from the source image', { size: image.size, baseSize: found.size });
    } catch (error) {
      return skip('it cannot be read', { err: error });
    }
    return base.path;
  }));
}
