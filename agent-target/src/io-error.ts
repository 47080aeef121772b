import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { ErrorCode, FerryError, toFerryError } from '@ferry/protocol';

const MiB = 1024 * 1024;

/** Free bytes on the file system holding `path`, or undefined when it cannot be asked. */
function freeBytes(path: string): number | undefined {
  try {
    const stats = statfsSync(path);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}

/**
 * An I/O failure as the FERRY_ERR_IO a user can act on: what was being done, to which path, and for a
 * full disk how much room is left there. FerryErrors pass through; anything without an errno code is
 * not an I/O failure and stays what it was (FERRY_ERR_INTERNAL: a bug).
 */
export function ioError(error: unknown, doing: string, path: string): FerryError {
  if (error instanceof FerryError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    const free = freeBytes(path) ?? freeBytes(dirname(path));
    const room = free === undefined ? 'free space unknown' : `${(free / MiB).toFixed(1)} MiB free there`;
    return new FerryError(ErrorCode.Io, `no space left ${doing} ${path} (${room})`, { cause: error });
  }
  if (typeof code !== 'string') return toFerryError(error);
  return new FerryError(ErrorCode.Io, `${doing} ${path}: ${(error as Error).message}`, { cause: error });
}
