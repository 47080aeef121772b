/** Client-to-server WebSocket frames written by hand, for feeding a FrameReader or a real target's socket. */
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
