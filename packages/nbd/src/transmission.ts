/**
 * The transmission phase, as pure encoders and incremental parsers (no I/O):
 *
 *     C: 0x25609513 u32 | command flags u16 | type u16 | cookie u64 | offset u64 | length u32
 *     S: 0x67446698 u32 | error u32 | cookie u64                                  simple reply
 *     S: 0x668e33ef u32 | flags u16 | type u16 | cookie u64 | length u32 | payload  structured chunk
 *
 * Structured replies are negotiated, so a READ always answers with chunks (OFFSET_DATA, OFFSET_HOLE,
 * errors) ending with the DONE flag; BLOCK_STATUS answers with one BLOCK_STATUS chunk per context:
 *
 *     BLOCK_STATUS payload = context id u32 | (extent length u32 | status flags u32)+
 */
import { ByteQueue, view } from './byte-queue.js';
import {
  REQUEST_BYTES, REQUEST_MAGIC, ReplyType, SIMPLE_REPLY_HEADER_BYTES, SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_HEADER_BYTES, STRUCTURED_REPLY_MAGIC,
} from './constants.js';
import { protocolError } from './errors.js';

export interface Request {
  readonly flags: number;
  readonly type: number;
  readonly cookie: bigint;
  readonly offset: number;
  readonly length: number;
}

export function encodeRequest(request: Request): Uint8Array {
  const bytes = new Uint8Array(REQUEST_BYTES);
  const v = view(bytes);
  v.setUint32(0, REQUEST_MAGIC);
  v.setUint16(4, request.flags);
  v.setUint16(6, request.type);
  v.setBigUint64(8, request.cookie);
  v.setBigUint64(16, BigInt(request.offset));
  v.setUint32(24, request.length);
  return bytes;
}

export type Reply =
  | { readonly kind: 'simple'; readonly cookie: bigint; readonly error: number }
  | { readonly kind: 'chunk'; readonly cookie: bigint; readonly flags: number; readonly type: number; readonly payload: Uint8Array };

/**
 * Parses the next reply; undefined until all of it arrived. A simple reply never carries data here:
 * with structured replies negotiated, READ must answer in chunks. Chunk lengths are checked against
 * `maxPayloadBytes` before anything is allocated for them.
 */
export function parseReply(queue: ByteQueue, maxPayloadBytes: number): Reply | undefined {
  const magicBytes = queue.peek(4);
  if (magicBytes === undefined) return undefined;
  const magic = view(magicBytes).getUint32(0);
  if (magic === SIMPLE_REPLY_MAGIC) {
    const bytes = queue.take(SIMPLE_REPLY_HEADER_BYTES);
    if (bytes === undefined) return undefined;
    const v = view(bytes);
    return { kind: 'simple', error: v.getUint32(4), cookie: v.getBigUint64(8) };
  }
  if (magic !== STRUCTURED_REPLY_MAGIC) throw protocolError(`bad reply magic 0x${magic.toString(16)}`);
  const header = queue.peek(STRUCTURED_REPLY_HEADER_BYTES);
  if (header === undefined) return undefined;
  const v = view(header);
  const length = v.getUint32(16);
  if (length > maxPayloadBytes) throw protocolError(`reply chunk of ${length} bytes is over the ${maxPayloadBytes}-byte limit`);
  if (queue.length < STRUCTURED_REPLY_HEADER_BYTES + length) return undefined;
  const flags = v.getUint16(4);
  const type = v.getUint16(6);
  const cookie = v.getBigUint64(8);
  const whole = queue.take(STRUCTURED_REPLY_HEADER_BYTES + length)!;
  return { kind: 'chunk', cookie, flags, type, payload: whole.subarray(STRUCTURED_REPLY_HEADER_BYTES) };
}

export interface Extent {
  readonly length: number;
  readonly flags: number;
}

export function decodeBlockStatus(payload: Uint8Array): { contextId: number; extents: Extent[] } {
  if (payload.length < 12 || (payload.length - 4) % 8 !== 0) throw protocolError(`BLOCK_STATUS chunk of ${payload.length} bytes`);
  const v = view(payload);
  const extents: Extent[] = [];
  for (let at = 4; at < payload.length; at += 8) {
    const length = v.getUint32(at);
    if (length === 0) throw protocolError('BLOCK_STATUS extent of length 0');
    extents.push({ length, flags: v.getUint32(at + 4) });
  }
  return { contextId: v.getUint32(0), extents };
}

export function decodeOffsetData(payload: Uint8Array): { offset: number; data: Uint8Array } {
  if (payload.length < 9) throw protocolError(`OFFSET_DATA chunk of ${payload.length} bytes`);
  return { offset: safeOffset(view(payload).getBigUint64(0)), data: payload.subarray(8) };
}

export function decodeOffsetHole(payload: Uint8Array): { offset: number; length: number } {
  if (payload.length !== 12) throw protocolError(`OFFSET_HOLE chunk of ${payload.length} bytes`);
  const v = view(payload);
  const length = v.getUint32(8);
  if (length === 0) throw protocolError('OFFSET_HOLE of length 0');
  return { offset: safeOffset(v.getBigUint64(0)), length };
}

/** An error chunk: error u32 | message length u16 | message | (offset u64 for ERROR_OFFSET). */
export function decodeErrorChunk(type: number, payload: Uint8Array): { error: number; message: string } {
  if (payload.length < 6) throw protocolError(`error chunk of ${payload.length} bytes`);
  const v = view(payload);
  const messageLength = v.getUint16(4);
  if (messageLength > payload.length - 6) throw protocolError('error chunk message longer than the chunk');
  const message = new TextDecoder().decode(payload.subarray(6, 6 + messageLength));
  const where = type === ReplyType.ErrorOffset && payload.length >= 14 + messageLength
    ? ` at offset ${v.getBigUint64(6 + messageLength)}` : '';
  return { error: v.getUint32(0), message: `${message}${where}` };
}

function safeOffset(offset: bigint): number {
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw protocolError(`offset ${offset} is too large`);
  return Number(offset);
}
