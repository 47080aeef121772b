import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { UsageError } from './usage.js';

/**
 * The token of a daemon that runs commands for its clients (`ferry source`): whoever can read the file can
 * do what the daemon's user can, so it must be this user's own and unreadable by anyone else (like ssh keys).
 * The checks are made on the open file that is then read, so a link swapped between a check and the read
 * (in a folder another user can write) cannot hand the daemon someone else's token.
 */
export function readPrivateToken(path: string, flag = '--token-file'): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new UsageError(`${flag} ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    const { uid: owner, mode } = fstatSync(fd);
    const me = process.geteuid?.() ?? owner;
    if (owner !== me) throw new UsageError(`${flag} ${path} belongs to uid ${owner}, not to this user (uid ${me}): whoever owns it can change the token`);
    if ((mode & 0o077) !== 0) {
      throw new UsageError(`${flag} ${path} can be read or written by others (mode ${(mode & 0o777).toString(8)}): chmod 600 ${path}`);
    }
    const token = readFileSync(fd).toString('utf8').trim();
    if (!token) throw new UsageError(`${flag} ${path} is empty`);
    return token;
  } finally {
    closeSync(fd);
  }
}

/** A client's token file (`ferry status`, the target's --token-file): its first line, trimmed. */
export function readToken(path: string): string {
  const token = readFileOrUsage(path, '--token-file').toString('utf8').trim();
  if (!token) throw new UsageError(`--token-file ${path} is empty`);
  return token;
}

/** A file a flag names (a token, TLS material); unreadable is a usage error naming the flag. */
export function readFileOrUsage(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`${flag} ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
