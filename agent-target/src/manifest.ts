import { existsSync, readFileSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ioError } from './io-error.js';

/**
 * `committing` is written before the first file leaves its `.partial` name, so a failure half way through
 * the renames is never described by a manifest that still says `ready`.
 */
export type Outcome = 'receiving' | 'ready' | 'committing' | 'committed' | 'resume-failed' | 'failed';

/** DIR/<migrationId>/manifest.json: what arrived and how it ended, for people and scripts. */
export interface Manifest {
  /** Marks the folder as ferry's: only a folder with this mark and its own id is ever cleaned up. */
  readonly createdBy?: 'ferry-target';
  readonly migrationId: string;
  readonly outcome: Outcome;
  readonly reason?: string;
  readonly images: ReadonlyArray<{ name: string; size: number; pageSize: number; file: string }>;
  readonly blobs: ReadonlyArray<{ name: string; size: number; file: string }>;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly bytesReceived: number;
  readonly passes: number;
}

export const MANIFEST_NAME = 'manifest.json';
export const manifestPath = (dir: string): string => join(dir, MANIFEST_NAME);

/**
 * Written to a temporary name of its own (one per outcome, so two writes never share one), fsynced,
 * renamed, and the folder fsynced: a reader never sees half a manifest, and a crash never leaves a
 * manifest older than the files it describes. A failed write leaves no temporary file behind.
 */
export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  const path = manifestPath(dir);
  const temporary = `${path}.${manifest.outcome}.tmp`;
  try {
    const file = await open(temporary, 'w', 0o644);
    try {
      await file.writeFile(`${JSON.stringify({ ...manifest, createdBy: 'ferry-target' }, null, 2)}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
    await syncFolder(dir);
  } catch (error) {
    await rm(temporary, { force: true });
    throw ioError(error, 'writing', path);
  }
}

async function syncFolder(dir: string): Promise<void> {
  const folder = await open(dir, 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

/** The manifest in `dir`, or undefined when there is none or it is not one of ferry's. */
export function readManifest(dir: string): Manifest | undefined {
  const path = manifestPath(dir);
  if (!existsSync(path)) return undefined;
  try {
    const manifest = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
    return typeof manifest === 'object' && manifest !== null && typeof manifest.outcome === 'string' ? manifest : undefined;
  } catch {
    return undefined;
  }
}

export const readOutcome = (dir: string): Outcome | undefined => readManifest(dir)?.outcome;
