const ZERO_CHUNK = new Uint8Array(64 * 1024);

/** True when every byte is zero. Compares against a zero buffer: memcmp speed, no JS loop. */
export function isZeroPage(bytes: Uint8Array): boolean {
  for (let offset = 0; offset < bytes.length; offset += ZERO_CHUNK.length) {
    const part = bytes.subarray(offset, Math.min(bytes.length, offset + ZERO_CHUNK.length));
    if (Buffer.compare(part, ZERO_CHUNK.subarray(0, part.length)) !== 0) return false;
  }
  return true;
}

/**
 * into[i] = a[i] ^ b[i]. Works eight bytes at a time when all three views are 8-byte aligned (pages
 * in reused buffers always are), else byte by byte. XOR is its own inverse: the same call applies a delta.
 */
export function xorInto(into: Uint8Array, a: Uint8Array, b: Uint8Array): void {
  const length = into.length;
  if (a.length !== length || b.length !== length) throw new RangeError(`xorInto: lengths differ (${into.length}, ${a.length}, ${b.length})`);
  const aligned = (v: Uint8Array) => v.byteOffset % 8 === 0;
  let i = 0;
  if (aligned(into) && aligned(a) && aligned(b)) {
    const words = length >>> 3;
    const wi = new BigUint64Array(into.buffer, into.byteOffset, words);
    const wa = new BigUint64Array(a.buffer, a.byteOffset, words);
    const wb = new BigUint64Array(b.buffer, b.byteOffset, words);
    // Int32 lanes are faster than BigInt lanes in V8; the BigUint64 views only checked the bounds.
    const ii = new Int32Array(wi.buffer, wi.byteOffset, words * 2);
    const ia = new Int32Array(wa.buffer, wa.byteOffset, words * 2);
    const ib = new Int32Array(wb.buffer, wb.byteOffset, words * 2);
    for (let w = 0; w < ii.length; w++) ii[w] = ia[w]! ^ ib[w]!;
    i = words * 8;
  }
  for (; i < length; i++) into[i] = a[i]! ^ b[i]!;
}
