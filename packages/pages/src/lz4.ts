import { compress, decompress } from 'lz4-wasm-nodejs';

/** A page payload that does not decode to exactly one page. */
export class PayloadError extends Error {
  override readonly name = 'PayloadError';
}

/** LZ4 block with lz4-wasm's u32 LE uncompressed-size prefix, which is exactly the wire's LZ4 payload. */
export function lz4Compress(bytes: Uint8Array): Uint8Array {
  return compress(bytes);
}

/**
 * Decompresses a wire payload that must yield exactly `expectedSize` bytes. The declared size is checked
 * before decompressing (no LZ4 bombs) and the produced size after (no short pages).
 */
export function lz4Decompress(payload: Uint8Array, expectedSize: number): Uint8Array {
  if (payload.length < 5) throw new PayloadError(`LZ4 payload of ${payload.length} bytes is too short`);
  const declared = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true);
  if (declared !== expectedSize) throw new PayloadError(`LZ4 payload declares ${declared} bytes, expected ${expectedSize}`);
  let out: Uint8Array;
  try {
    out = decompress(payload);
  } catch (error) {
    throw new PayloadError(`LZ4 payload does not decode: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (out.length !== expectedSize) throw new PayloadError(`LZ4 payload decoded to ${out.length} bytes, expected ${expectedSize}`);
  return out;
}
