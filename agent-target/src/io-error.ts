import { statfs } from 'node:fs/promises';
import { ErrorCode, FerryError, toFerryError } from '@ferry/protocol';

const MiB = 1024 * 1024;

/** Free bytes on the file system holding `path`, or undefined when it cannot be asked. */
async function freeBytes(path: string): Promise<number | undefined> {
  try {
    const stats = await statfs(path);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}

/**
 * An I/O failure as the FERRY_ERR_IO a user can act on: what was being done, to which path, and for a
 * full disk how much room is left there.
 */
export async function ioError(error: unknown, doing: string, folder: string): Promise<FerryError> {
  if (error instanceof FerryError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    const free = await freeBytes(folder);
    const room = free === undefined ? 'unknown free space' : `${(free / MiB).toFixed(1)} MiB free`;
    return new FerryError(ErrorCode.Io, `no space left ${doing} (${room} in ${folder})`, { cause: error });
  }
  const failure = toFerryError(error, ErrorCode.Io);
  return new FerryError(ErrorCode.Io, `${doing}: ${failure.message}`, { cause: error });
}

/** The synchronous writers' errors (pwrite of a page, a blob chunk) as FERRY_ERR_IO naming the path. */
export function ioErrorNow(error: unknown, doing: string): FerryError {
  if (error instanceof FerryError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new FerryError(ErrorCode.Io, `no space left ${doing}`, { cause: error });
  if (typeof code === 'string') return new FerryError(ErrorCode.Io, `${doing}: ${(error as Error).message}`, { cause: error });
  return toFerryError(error);
}
