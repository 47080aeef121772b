/**
 * Where the checkout is. `npm test` runs the tests compiled into .cache/tests, so a path taken relative
 * to a test file's own location would point into that folder: find the workspace root instead.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = findWorkspaceRoot(dirname(fileURLToPath(import.meta.url)));

/** A path inside the checkout, from its root: `repoPath('cli', 'bin', 'ferry.js')`. */
export function repoPath(...parts: string[]): string {
  return join(REPO_ROOT, ...parts);
}

function findWorkspaceRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (isWorkspaceRoot(dir)) return dir;
    if (dirname(dir) === dir) throw new Error(`no ferry checkout above ${from}`);
  }
}

function isWorkspaceRoot(dir: string): boolean {
  const manifest = join(dir, 'package.json');
  return existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'ferry-workspace';
}
