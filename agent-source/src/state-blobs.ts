import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { checkName, digestToHex, encodeStateChunk, ErrorCode, FerryError, MessageType } from '@ferry/protocol';
import type { PageHasher } from '@ferry/pages';
import { abortable, abortReason } from './abort.js';
import type { TargetConnection } from './connection.js';
import type { StateBlob } from './hooks.js';

const CHUNK_BYTES = 1024 * 1024;

/**
 * Streams each blob as STATE, STATE_CHUNK*, STATE_END{xxh64}. The size is taken once from the open file;
 * a blob that changes length while being sent is an error, never a silently short copy. Only regular
 * files are read (opened non-blocking, so a FIFO cannot hang the paused workload); aborting `signal`
 * stops between chunks.
 */
export async function sendStateBlobs(
  connection: TargetConnection,
  blobs: readonly StateBlob[],
  hasher: PageHasher,
  onSent: (name: string, bytes: number) => void,
  signal: AbortSignal,
): Promise<void> {
  const seen = new Set<string>();
  for (const blob of blobs) {
    checkName(blob.name, 'state blob name');
    if (seen.has(blob.name)) throw new FerryError(ErrorCode.Conflict, `state blob ${blob.name} is given twice`);
    seen.add(blob.name);
    const file = await open(blob.path, constants.O_RDONLY | constants.O_NONBLOCK).catch((error: Error) => {
      throw new FerryError(ErrorCode.Io, `cannot read state blob ${blob.name} from ${blob.path}: ${error.message}`, { cause: error });
    });
    try {
      const stat = await file.stat();
      if (!stat.isFile()) throw new FerryError(ErrorCode.Io, `state blob ${blob.name}: ${blob.path} is not a regular file`);
      const size = stat.size;
      await connection.sendControl({ type: MessageType.State, name: blob.name, size });
      const hash = hasher.create();
      let offset = 0;
      while (offset < size) {
        // A fresh buffer per chunk: the socket may still hold the previous one when sendRaw resolves.
        const buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, size - offset));
        const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, size - offset), offset);
        if (bytesRead === 0) throw new FerryError(ErrorCode.Io, `state blob ${blob.path} shrank while it was being sent`);
        const chunk = buffer.subarray(0, bytesRead);
        hash.update(chunk);
        if (signal.aborted) throw abortReason(signal);
        await abortable(connection.sendRaw([encodeStateChunk(chunk)]), signal);
        offset += bytesRead;
      }
      await connection.sendControl({ type: MessageType.StateEnd, name: blob.name, xxh64: digestToHex(hash.digest()) });
      onSent(blob.name, size);
    } finally {
      await file.close();
    }
  }
}
