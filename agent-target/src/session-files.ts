import { chmodSync, existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, FerryError, isValidName, QEMU_LAUNCH_FILES, type Hello } from '@ferry/protocol';
import type { PageHasher } from '@ferry/pages';
import type { TableMemory } from './table-memory.js';
import { ImageSink } from './image-sink.js';
import { ioError } from './io-error.js';
import { MANIFEST_NAME, readManifest, type Manifest } from './manifest.js';

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
 * DIR/<migrationId>/ with an empty `.partial` sparse file per image and a state/ folder (seeding from
 * `--base` copies comes later, see BaseSeeds). A stale attempt with the same id is reused only as
 * `reclaim` allows; the caller has already refused ids that were committed. On failure only what this
 * call created is removed.
 */
export function createSessionFiles(hello: Hello, root: string, hasher: PageHasher, memory: TableMemory): { dir: string; images: ImageSink[] } {
  const dir = join(root, hello.migrationId);
  const existed = existsSync(dir);
  if (existed) reclaim(dir, hello);
  // Only the daemon's user may enter: the target QEMU makes its monitor and device-state sockets here
  // with whatever umask the daemon has, and a socket another local user can connect to would let them
  // drive QEMU or feed it a device state. chmod too: an attempt folder reclaimed may predate this.
  mkdirSync(join(dir, STATE_FOLDER), { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const images: ImageSink[] = [];
  try {
    for (const image of hello.images) images.push(ImageSink.create(image.name, join(dir, image.name), image.size, image.pageSize, hasher, memory));
  } catch (error) {
    for (const sink of images) sink.close();
    for (const image of hello.images) rmSync(join(dir, `${image.name}.partial`), { force: true });
    if (!existed) removeIfEmpty(dir);
    throw ioError(error, `creating the images of ${hello.migrationId} in`, dir);
  }
  return { dir, images };
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

/** What a QEMU started ahead of GO (--qemu-cmd) leaves in DIR/<id>. Why a launch failed is in the target's log. */
const QEMU_LEFTOVERS: ReadonlySet<string> = new Set(Object.values(QEMU_LAUNCH_FILES));

/** What ferry itself leaves in DIR/<id> once the `.partial` files are gone: its manifest (and its temporary names), its QEMU's files. */
const isOwnLeftover = (name: string): boolean =>
  name === MANIFEST_NAME || (name.startsWith(`${MANIFEST_NAME}.`) && name.endsWith('.tmp')) || QEMU_LEFTOVERS.has(name);

/**
 * Removes the folder of a migration that ended before GO, once its `.partial` files are gone, when
 * nothing but ferry's manifest and an empty state/ folder is left: a failed or abandoned attempt holds
 * nothing worth keeping, and would otherwise stay forever. A folder holding anything else (a file ferry
 * did not create, a partial it could not remove) is left as it is; returns whether the folder is gone.
 */
export function removeFinishedFolder(dir: string): boolean {
  try {
    const state = join(dir, STATE_FOLDER);
    const names = readdirSync(dir);
    const stateEmpty = !names.includes(STATE_FOLDER) || readdirSync(state).length === 0;
    if (!stateEmpty || !names.every((name) => name === STATE_FOLDER || isOwnLeftover(name))) return false;
    for (const name of names.filter(isOwnLeftover)) unlinkSync(join(dir, name));
    removeIfEmpty(dir);
    return !existsSync(dir);
  } catch {
    return !existsSync(dir);
  }
}
