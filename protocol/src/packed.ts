/**
 * PAGES_PACKED: a whole PAGES message compressed as one stream, for links slower than the compressor.
 *
 *   message = u8 type(19) | u8 codec | u32 LE unpackedLength | compressed PAGES message
 *
 * Per-page LZ4 sees 4 KiB at a time; a stream over a whole batch also finds what pages share (text,
 * heap objects of one kind), and Brotli codes it tighter: on the workload's mixed pages a batch of raw
 * records packs 22-27% smaller than the same pages as LZ4 records (docs/measurements.md). Unpacking
 * checks the declared length against the receiver's limit before anything is decompressed, and
 * decompresses at most that many bytes (no bombs); what it yields must be a PAGES message.
 */
import { promisify } from 'node:util';
import { brotliCompress, brotliDecompressSync, constants as zlib } from 'node:zlib';
import { MessageType, PACKED_HEADER_BYTES, PackCodec } from './constants.js';
import { malformed } from './errors.js';

/**
 * Quality 2 of 11: on the workload's pages it packs within 1% of quality 3 at about its speed, and at
 * about twice the speed of 4 (docs/measurements.md); far faster than any link packing is used on.
 */
const QUALITY = 2;
const compress = promisify(brotliCompress);

/** Packs a whole PAGES message into one PAGES_PACKED message (one buffer: one message, one count on the wire). */
export async function packPages(pages: Uint8Array): Promise<Uint8Array> {
  const body = await compress(pages, {
    params: { [zlib.BROTLI_PARAM_QUALITY]: QUALITY, [zlib.BROTLI_PARAM_SIZE_HINT]: pages.length },
  });
  const message = Buffer.allocUnsafe(PACKED_HEADER_BYTES + body.length);
  message.writeUInt8(MessageType.PagesPacked, 0);
  message.writeUInt8(PackCodec.Brotli, 1);
  message.writeUInt32LE(pages.length, 2);
  message.set(body, PACKED_HEADER_BYTES);
  return message;
}

/** The PAGES message a PAGES_PACKED message holds; throws FERRY_ERR_MALFORMED on anything else. */
export function unpackPages(message: Uint8Array, maxBytes: number): Uint8Array {
  if (message.length <= PACKED_HEADER_BYTES) throw malformed(`PAGES_PACKED: ${message.length} bytes leave no room for a body`);
  const view = new DataView(message.buffer, message.byteOffset, message.length);
  const codec = view.getUint8(1);
  if (codec !== PackCodec.Brotli) throw malformed(`PAGES_PACKED: unknown codec ${codec}`);
  const declared = view.getUint32(2, true);
  if (declared > maxBytes) throw malformed(`PAGES_PACKED: unpacks to ${declared} bytes, over the ${maxBytes}-byte message limit`);
  let pages: Uint8Array;
  try {
    pages = brotliDecompressSync(message.subarray(PACKED_HEADER_BYTES), { maxOutputLength: Math.max(1, declared) });
  } catch (error) {
    throw malformed(`PAGES_PACKED: the body does not unpack to ${declared} bytes (${error instanceof Error ? error.message : String(error)})`);
  }
  if (pages.length !== declared) throw malformed(`PAGES_PACKED: the body unpacks to ${pages.length} bytes, ${declared} declared`);
  if (pages[0] !== MessageType.Pages) throw malformed('PAGES_PACKED: what it holds is not a PAGES message');
  return pages;
}
