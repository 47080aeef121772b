/**
 * The device state between QEMU and a file. QEMU 8.2 and later read and write a file themselves
 * (`file:`). Before that, `exec:cat` made QEMU start a shell and `cat` inside the pause, on both hosts;
 * a unix socket carries the same stream with no process: QEMU connects to ferry's socket to write its
 * state, and listens on one to read it, while ferry writes or reads the file. The socket lives in a
 * folder only ferry's user can enter (what connects first is what QEMU saves or loads).
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { QEMU_LAUNCH_FILES } from '@ferry/protocol';
import { hasFileUri, shellQuote } from './migration.js';
import type { QmpClient } from './qmp.js';

/** A unix socket's path must fit `sun_path` (108 bytes with its NUL); longer folders fall back to `exec:cat`. */
export const MAX_SOCKET_PATH = 100;
export const STATE_SOCKET = QEMU_LAUNCH_FILES.deviceState;

export interface StateStream {
  /** For `migrate` (outgoing) or `migrate-incoming` (incoming). */
  readonly uri: string;
  /**
   * After the command: outgoing, resolves once the file holds the whole stream; incoming, writes the file
   * into QEMU's socket. Nothing to do for `file:` and `exec:`.
   */
  transfer(): Promise<void>;
  /** Releases the socket, whatever happened. */
  close(): void;
}

/**
 * The stream without a socket of ferry's: `file:` where QEMU has it (and the path has no comma, its option
 * separator), `exec` where the socket's path would be too long; undefined when the socket is the way.
 */
function withoutSocket(qmp: QmpClient, path: string, socketPath: string, exec: string): StateStream | undefined {
  const direct = (uri: string): StateStream => ({ uri, transfer: () => Promise.resolve(), close: () => undefined });
  if (hasFileUri(qmp) && !path.includes(',')) return direct(`file:${path}`);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) return direct(exec);
  return undefined;
}

/** QEMU writes its device state to `path`; a socket, when needed, goes in `socketDir`. */
export async function stateOut(qmp: QmpClient, path: string, socketDir: string): Promise<StateStream> {
  const socketPath = join(socketDir, STATE_SOCKET);
  const plain = withoutSocket(qmp, path, socketPath, `exec:cat > ${shellQuote(path)}`);
  if (plain) return plain;
  rmSync(socketPath, { force: true });
  const server = createServer();
  const received = new Promise<void>((resolve, reject) => {
    server.once('connection', (socket) => {
      server.close(); // one stream: nothing else may connect after QEMU
      pipeline(socket, createWriteStream(path, { mode: 0o600 })).then(resolve, reject);
    });
  });
  received.catch(() => undefined); // awaited by transfer() unless the migration failed first
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, () => resolve()));
  return { uri: `unix:${socketPath}`, transfer: () => received, close: () => { server.close(); } };
}

/** QEMU reads its device state from `path`; a socket, when needed, goes in `socketDir`. */
export function stateIn(qmp: QmpClient, path: string, socketDir: string): StateStream {
  const socketPath = join(socketDir, STATE_SOCKET);
  const plain = withoutSocket(qmp, path, socketPath, `exec:cat ${shellQuote(path)}`);
  if (plain) return plain;
  rmSync(socketPath, { force: true });
  return {
    uri: `unix:${socketPath}`,
    async transfer() {
      const socket = connect(socketPath);
      await once(socket, 'connect');
      // QEMU closes its end once it has read the stream's end marker, which can come before this side saw
      // its own last write finish. Whether the state loaded is for query-migrate to say, not the socket.
      await pipeline(createReadStream(path), socket).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw error;
      });
    },
    close: () => rmSync(socketPath, { force: true }),
  };
}
