import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, FerryError, isValidName, type Hello } from '@ferry/protocol';
import type { PageHasher } from '@ferry/pages';
import { ImageSink } from './image-sink.js';
import { ioError } from './io-error.js';
import { readManifest, type Manifest } from './manifest.js';

export const STATE_FOLDER = 'state';

/**
 * The `.partial` files a ferry manifest says its migration created: the only files ferry ever deletes
 * in a folder it did not just create. Names are checked again, so a hand-edited manifest cannot point
 * anywhere else.
 */
export function ownPartials(dir: string, manifest: Pick<Manifest, 'images' | 'blobs'>, extraImages: readonly string[] = []): string[] {
  const images = [...manifest.images.map((i) => i.name), ...extraImages].filter(isValidName);
  const blobs = manifest.blobs.map((b) => b.name).filter(isValidName);
  return [...new Set([...images.map((n) => join(dir, `${n}.partial`)), ...blobs.map((n) => join(dir, STATE_FOLDER, `${n}.partial`))])];
}

/**
 * Removes the final names a prelaunch gave the images ahead of GO (hard links of their `.partial`
 * files) after a failure or a restart: a final name that is the same file as its own `.partial` was
 * made by ferry and holds nothing the `.partial` does not. Any other file under a final name stays.
 */
export function removePrelaunchLinks(dir: string, names: readonly string[]): void {
  for (const name of names.filter(isValidName)) {
    const finalPath = join(dir, name);
    try {
      const final = statSync(finalPath);
      const partial = statSync(join(dir, `${name}.partial`));
      if (final.dev === partial.dev && final.ino === partial.ino) unlinkSync(finalPath);
    } catch {
      // one of the two is missing: nothing of a prelaunch to remove
    }
  }
}

/**
 * Decides whether DIR/<id> may be reused for a new attempt, and clears what the old attempt left. ferry
 * reuses only a folder it can prove it owns: its own manifest for this id, not committed, not one whose
 * commit began, and no final-named image that a new attempt would overwrite. Anything else is refused.
 */
function reclaim(dir: string, hello: Hello): void {
  const manifest = readManifest(dir);
  const where = `${dir} exists`;
  if (!manifest || manifest.createdBy !== 'ferry-target' || manifest.migrationId !== hello.migrationId) {
    throw new FerryError(ErrorCode.Conflict, `${where} and is not a ferry migration folder (no manifest of its own); ferry does not delete what it did not create: move it away or use another --id`);
  }
  if (manifest.outcome === 'committed' || manifest.outcome === 'committing' || manifest.outcome === 'resume-failed') {
    throw new FerryError(ErrorCode.Conflict, `${where} and holds the images of migration ${hello.migrationId} (${manifest.outcome}); ferry will not overwrite them: use another --id`);
  }
  const names = new Set([...manifest.images.map((i) => i.name), ...hello.images.map((i) => i.name)]);
  removePrelaunchLinks(dir, [...names]);
  for (const name of names) {
    if (isValidName(name) && existsSync(join(dir, name))) {
      throw new FerryError(ErrorCode.Conflict, `${where} and already holds a final image ${name}; ferry will not overwrite it: use another --id`);
    }
  }
  for (const path of ownPartials(dir, manifest, hello.images.map((i) => i.name))) rmSync(path, { force: true });
}

/**
 * DIR/<migrationId>/ with a `.partial` sparse file per image (seeded from `--base` copies where given)
 * and a state/ folder. A stale attempt with the same id is reused only as `reclaim` allows; the caller
 * has already refused ids that were committed. On failure only what this call created is removed.
 */
export function createSessionFiles(
  hello: Hello,
  root: string,
  bases: Readonly<Record<string, string>>,
  hasher: PageHasher,
): { dir: string; images: ImageSink[]; seeded: boolean } {
  const dir = join(root, hello.migrationId);
  const existed = existsSync(dir);
  if (existed) reclaim(dir, hello);
  mkdirSync(join(dir, STATE_FOLDER), { recursive: true });
  const images: ImageSink[] = [];
  let seeded = false;
  try {
    for (const image of hello.images) {
      // An own property only: a name like __proto__ must not find what every object inherits.
      const base = Object.hasOwn(bases, image.name) ? bases[image.name] : undefined;
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
    for (const image of hello.images) rmSync(join(dir, `${image.name}.partial`), { force: true });
    if (!existed) removeIfEmpty(dir);
    throw ioError(error, `creating the images of ${hello.migrationId} in`, dir);
  }
  return { dir, images, seeded };
}

/** Removes `dir` (and its state/ folder) only when nothing is in them. */
export function removeIfEmpty(dir: string): void {
  try {
    const state = join(dir, STATE_FOLDER);
    if (existsSync(state) && readdirSync(state).length === 0) rmdirSync(state);
    if (readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    // not empty, or gone already: leave it
  }
}
