/** Client-to-server WebSocket frames written by hand, for feeding a FrameReader or a real target's socket. */
import { connect, type Socket } from 'node:net';
export interface FrameOptions {
  readonly fin?: boolean;
  /** The 4-byte mask; undefined writes an unmasked frame (which a server must refuse). */
  readonly mask?: Uint8Array | undefined;
  /** Bits to set among RSV1-3 (0x70). */
  readonly rsv?: number;
  /** Length as this many bytes of extended length (0, 2 or 8) whatever the payload's size; the default is the shortest. */
  readonly lengthBytes?: 0 | 2 | 8;
  /** The length the header announces, when it must lie about the payload. */
  readonly announced?: number;
}

export const Op = { Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;
export const MASK = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

export function clientFrame(opcode: number, payload: Uint8Array, options: FrameOptions = {}): Buffer {
  const { fin = true, rsv = 0 } = options;
  const mask = 'mask' in options ? options.mask : MASK;
  const length = options.announced ?? payload.length;
  const lengthBytes = options.lengthBytes ?? (length < 126 ? 0 : length < 65536 ? 2 : 8);
  const header = Buffer.alloc(2 + lengthBytes + (mask ? 4 : 0));
  header[0] = (fin ? 0x80 : 0) | rsv | opcode;
  header[1] = (mask ? 0x80 : 0) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) header.writeUInt16BE(length, 2);
  if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2);
  if (!mask) return Buffer.concat([header, payload]);
  header.set(mask, 2 + lengthBytes);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i % 4]!;
  return Buffer.concat([header, masked]);
}

export const closeFrame = (code: number, reason = ''): Buffer => {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return clientFrame(Op.Close, payload);
};

/** A frame the server sent (servers do not mask). */
export interface ServerFrame {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** A WebSocket client on a bare TCP socket: it writes whatever bytes a test gives it and records the server's frames. */
export interface RawClient {
  readonly socket: Socket;
  readonly frames: ServerFrame[];
  /** Resolves once the server closed the TCP connection. */
  readonly ended: Promise<void>;
  /** The code of the server's close frame, if one came. */
  closeCode(): number | undefined;
}

/** Connects to `url` (ws://host:port) and completes the upgrade of `path`. */
export async function rawWebSocket(url: string, path = '/migrate'): Promise<RawClient> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.setNoDelay(true);
  socket.on('error', () => {}); // a test may keep writing after the server hung up
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  const frames: ServerFrame[] = [];
  let pending = Buffer.alloc(0);
  let upgraded = false;
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    if (!upgraded) {
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!pending.subarray(0, end).toString('latin1').startsWith('HTTP/1.1 101')) throw new Error(`upgrade refused: ${pending.toString('latin1')}`);
      upgraded = true;
      pending = pending.subarray(end + 4);
    }
    for (;;) {
      if (pending.length < 2) return;
      const length7 = pending[1]! & 0x7f;
      const ext = length7 === 126 ? 2 : length7 === 127 ? 8 : 0;
      if (pending.length < 2 + ext) return;
      const length = ext === 0 ? length7 : ext === 2 ? pending.readUInt16BE(2) : Number(pending.readBigUInt64BE(2));
      if (pending.length < 2 + ext + length) return;
      frames.push({ opcode: pending[0]! & 0x0f, payload: pending.subarray(2 + ext, 2 + ext + length) });
      pending = pending.subarray(2 + ext + length);
    }
  });
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (upgraded) return void resolve();
      socket.once('data', () => setImmediate(check));
    };
    check();
    socket.once('close', () => reject(new Error('closed before the upgrade')));
  });
  const closeCode = (): number | undefined => {
    const close = frames.find((f) => f.opcode === Op.Close);
    return close && close.payload.length >= 2 ? close.payload.readUInt16BE(0) : undefined;
  };
  return { socket, frames, ended, closeCode };
}
