/**
 * The fixed newstyle handshake, as pure encoders and incremental parsers (no I/O):
 *
 *     S: NBDMAGIC u64 | IHAVEOPT u64 | handshake flags u16
 *     C: client flags u32
 *     C: IHAVEOPT u64 | option u32 | length u32 | data            (repeated)
 *     S: 0x3e889045565a9 u64 | option u32 | reply type u32 | length u32 | data   (one or more per option)
 *
 * This client sends NBD_OPT_STRUCTURED_REPLY, NBD_OPT_SET_META_CONTEXT and NBD_OPT_GO; a successful GO
 * (NBD_REP_INFO ... NBD_REP_ACK) enters the transmission phase.
 */
import { ByteQueue, view } from './byte-queue.js';
import {
  FLAG_FIXED_NEWSTYLE, IHAVEOPT, Info, NBD_MAGIC, OPTION_REPLY_HEADER_BYTES, OPTION_REPLY_MAGIC,
} from './constants.js';
import { protocolError } from './errors.js';

const GREETING_BYTES = 18;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Names and queries go into u32-length fields; the protocol caps strings at 4096 bytes. */
export const MAX_STRING_BYTES = 4096;

/** Parses the server's greeting; undefined until all 18 bytes arrived. Throws on anything but fixed newstyle. */
export function parseGreeting(queue: ByteQueue): { handshakeFlags: number } | undefined {
  const bytes = queue.take(GREETING_BYTES);
  if (bytes === undefined) return undefined;
  const v = view(bytes);
  if (v.getBigUint64(0) !== NBD_MAGIC) throw protocolError('not an NBD server (no NBDMAGIC)');
  if (v.getBigUint64(8) !== IHAVEOPT) throw protocolError('the NBD server does not speak the newstyle handshake');
  const handshakeFlags = v.getUint16(16);
  if ((handshakeFlags & FLAG_FIXED_NEWSTYLE) === 0) throw protocolError('the NBD server does not speak the fixed newstyle handshake');
  return { handshakeFlags };
}

export function encodeClientFlags(flags: number): Uint8Array {
  const bytes = new Uint8Array(4);
  view(bytes).setUint32(0, flags);
  return bytes;
}

export function encodeOption(option: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const bytes = new Uint8Array(16 + data.length);
  const v = view(bytes);
  v.setBigUint64(0, IHAVEOPT);
  v.setUint32(8, option);
  v.setUint32(12, data.length);
  bytes.set(data, 16);
  return bytes;
}

function encodeString(text: string, what: string): Uint8Array {
  const bytes = encoder.encode(text);
  if (bytes.length > MAX_STRING_BYTES) throw new RangeError(`${what} is longer than ${MAX_STRING_BYTES} bytes`);
  return bytes;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const whole = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const part of parts) {
    whole.set(part, at);
    at += part.length;
  }
  return whole;
}

function u32(value: number): Uint8Array {
  return encodeClientFlags(value);
}

/** NBD_OPT_GO data: name length u32 | name | request count u16 | info types u16... */
export function encodeGoData(exportName: string, infoRequests: readonly number[]): Uint8Array {
  const name = encodeString(exportName, 'the export name');
  const requests = new Uint8Array(2 + 2 * infoRequests.length);
  const v = view(requests);
  v.setUint16(0, infoRequests.length);
  infoRequests.forEach((type, i) => v.setUint16(2 + 2 * i, type));
  return concat([u32(name.length), name, requests]);
}

/** NBD_OPT_SET_META_CONTEXT data: name length u32 | name | query count u32 | (length u32 | query)... */
export function encodeMetaContextData(exportName: string, queries: readonly string[]): Uint8Array {
  const name = encodeString(exportName, 'the export name');
  const parts = [u32(name.length), name, u32(queries.length)];
  for (const query of queries) {
    const bytes = encodeString(query, 'a meta context query');
    parts.push(u32(bytes.length), bytes);
  }
  return concat(parts);
}

export interface OptionReply {
  readonly option: number;
  readonly type: number;
  readonly data: Uint8Array;
}

/**
 * Parses one option reply; undefined until all of it arrived. The length is checked against
 * `maxDataBytes` before anything is allocated for it.
 */
export function parseOptionReply(queue: ByteQueue, maxDataBytes: number): OptionReply | undefined {
  const header = queue.peek(OPTION_REPLY_HEADER_BYTES);
  if (header === undefined) return undefined;
  const v = view(header);
  if (v.getBigUint64(0) !== OPTION_REPLY_MAGIC) throw protocolError('bad option reply magic');
  const option = v.getUint32(8);
  const type = v.getUint32(12);
  const length = v.getUint32(16);
  if (length > maxDataBytes) throw protocolError(`option reply of ${length} bytes is over the ${maxDataBytes}-byte limit`);
  if (queue.length < OPTION_REPLY_HEADER_BYTES + length) return undefined;
  const whole = queue.take(OPTION_REPLY_HEADER_BYTES + length)!;
  return { option, type, data: whole.subarray(OPTION_REPLY_HEADER_BYTES) };
}

export type InfoReply =
  | { readonly kind: 'export'; readonly size: number; readonly transmissionFlags: number }
  | { readonly kind: 'block-size'; readonly minimum: number; readonly preferred: number; readonly maximum: number }
  | { readonly kind: 'other'; readonly type: number };

/** Decodes the data of an NBD_REP_INFO reply. */
export function decodeInfo(data: Uint8Array): InfoReply {
  if (data.length < 2) throw protocolError('NBD_REP_INFO shorter than its type');
  const v = view(data);
  const type = v.getUint16(0);
  if (type === Info.Export) {
    if (data.length !== 12) throw protocolError(`NBD_INFO_EXPORT of ${data.length} bytes (must be 12)`);
    const size = v.getBigUint64(2);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw protocolError(`export size ${size} is too large`);
    return { kind: 'export', size: Number(size), transmissionFlags: v.getUint16(10) };
  }
  if (type === Info.BlockSize) {
    if (data.length !== 14) throw protocolError(`NBD_INFO_BLOCK_SIZE of ${data.length} bytes (must be 14)`);
    return { kind: 'block-size', minimum: v.getUint32(2), preferred: v.getUint32(6), maximum: v.getUint32(10) };
  }
  return { kind: 'other', type };
}

/** Decodes the data of an NBD_REP_META_CONTEXT reply: context id u32 | name. */
export function decodeMetaContext(data: Uint8Array): { id: number; name: string } {
  if (data.length < 4) throw protocolError('NBD_REP_META_CONTEXT shorter than its id');
  try {
    return { id: view(data).getUint32(0), name: decoder.decode(data.subarray(4)) };
  } catch {
    throw protocolError('NBD_REP_META_CONTEXT name is not UTF-8');
  }
}

/** The text an error reply may carry (for the user), or the empty string. */
export function decodeErrorText(data: Uint8Array): string {
  try {
    return decoder.decode(data);
  } catch {
    return '';
  }
}
