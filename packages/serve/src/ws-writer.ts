/** RFC 6455 frames as a server writes them: unmasked, FIN set, the payload after the header as is. */

/** The header of an unmasked server frame with FIN set: the payload follows it as is. */
export function serverFrameHeader(opcode: number, length: number): Uint8Array {
  if (length < 126) return Uint8Array.of(0x80 | opcode, length);
  if (length < 65536) return Uint8Array.of(0x80 | opcode, 126, length >>> 8, length & 0xff);
  const header = new Uint8Array(10);
  header[0] = 0x80 | opcode;
  header[1] = 127;
  new DataView(header.buffer).setBigUint64(2, BigInt(length));
  return header;
}

/** The opcodes a ferry server writes. */
export const ServerOpcode = { Binary: 0x2, Close: 0x8, Pong: 0xa } as const;

/** A close frame's payload: the code, then as much of the reason as fits in 123 bytes of UTF-8. */
export function closePayload(code: number, reason: string): Uint8Array {
  const text = new TextEncoder().encode(reason);
  let end = Math.min(text.length, 123);
  while (end > 0 && end < text.length && (text[end]! & 0xc0) === 0x80) end--; // not inside a character
  const payload = new Uint8Array(2 + end);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(text.subarray(0, end), 2);
  return payload;
}
