import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type Outcome = 'receiving' | 'ready' | 'committed' | 'resume-failed' | 'failed';

/** DIR/<migrationId>/manifest.json: what arrived and how it ended, for people and scripts. */
export interface Manifest {
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

export const manifestPath = (dir: string): string => join(dir, 'manifest.json');

/** Written to a temporary name and renamed, so a reader never sees half a manifest. */
export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  const path = manifestPath(dir);
  await writeFile(`${path}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
}

export function readOutcome(dir: string): Outcome | undefined {
  const path = manifestPath(dir);
  if (!existsSync(path)) return undefined;
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as Manifest).outcome;
  } catch {
    return undefined;
  }
}
