import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { isValidName } from '@ferry/protocol';
import { readManifest, writeManifest, type Manifest } from './manifest.js';
import { ownPartials, removeFinishedFolder, removePrelaunchLinks, STATE_FOLDER } from './session-files.js';

/**
 * At start-up: migrations a previous target process was receiving when it died (kill -9, power loss)
 * can never resume, so their `.partial` files are removed; so are the folders of attempts that failed
 * before GO, when nothing but ferry's own manifest is left in them. Only folders with ferry's own
 * manifest are touched, and in them only the files it made; a folder that also holds something else
 * keeps it, with a manifest that says why the migration failed. A folder whose commit had begun is left
 * for a person, with a warning; a committed one is never touched.
 */
export async function cleanStaleSessions(root: string, logger: Logger): Promise<void> {
  const entries = await readdir(root, { withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isDirectory() || !isValidName(entry.name)) continue;
    const dir = join(root, entry.name);
    const manifest = readManifest(dir);
    if (!manifest || manifest.createdBy !== 'ferry-target' || manifest.migrationId !== entry.name) continue;
    if (manifest.outcome === 'committing') {
      logger.warn({ migrationId: manifest.migrationId, dir }, 'a commit was cut by a restart of the target; its files are left as they are for a person to check');
      continue;
    }
    if (manifest.outcome === 'failed') {
      if (removeFinishedFolder(dir)) logger.info({ migrationId: manifest.migrationId }, 'removed the folder of a failed migration');
      continue;
    }
    if (manifest.outcome !== 'receiving' && manifest.outcome !== 'ready') continue;
    await removeCutSession(dir, manifest, logger);
  }
}

/** A migration cut by the restart: its own `.partial` files go, then its folder if nothing else is left. */
async function removeCutSession(dir: string, manifest: Manifest, logger: Logger): Promise<void> {
  removePrelaunchLinks(dir, manifest.images.map((i) => i.name));
  const partials = [...ownPartials(dir, manifest), ...await stateBlobPartials(dir)];
  for (const path of partials) await rm(path, { force: true });
  const gone = removeFinishedFolder(dir);
  if (!gone) {
    await writeManifest(dir, {
      ...manifest, outcome: 'failed', reason: 'the target restarted before this migration ended', updatedAt: new Date().toISOString(),
    });
  }
  logger.warn({ migrationId: manifest.migrationId, removed: partials.length, folderRemoved: gone }, 'removed the partial files of a migration cut by a restart of the target');
}

/** Blob `.partial` files in the state/ folder ferry made (blobs are not all listed in an early manifest). */
async function stateBlobPartials(dir: string): Promise<string[]> {
  const state = join(dir, STATE_FOLDER);
  const names = await readdir(state).catch(() => [] as string[]);
  return names.filter((name) => name.endsWith('.partial') && isValidName(name.slice(0, -'.partial'.length))).map((name) => join(state, name));
}
