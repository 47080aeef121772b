import { statSync } from 'node:fs';
import { readToken } from './migrate-options.js';
import { UsageError } from './usage.js';

/**
 * The token of a daemon that runs commands for its clients (`ferry source`): whoever can read the file can
 * do what the daemon's user can, so it must be this user's own and unreadable by anyone else (like ssh keys).
 */
export function readPrivateToken(path: string, flag = '--token-file'): string {
  let owner: number;
  let mode: number;
  try {
    ({ uid: owner, mode } = statSync(path));
  } catch (error) {
    throw new UsageError(`${flag} ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const me = process.geteuid?.() ?? owner;
  if (owner !== me) throw new UsageError(`${flag} ${path} belongs to uid ${owner}, not to this user (uid ${me}): whoever owns it can change the token`);
  if ((mode & 0o077) !== 0) {
    throw new UsageError(`${flag} ${path} can be read or written by others (mode ${(mode & 0o777).toString(8)}): chmod 600 ${path}`);
  }
  return readToken(path);
}
