import { MessageType } from './constants.js';
import { malformed } from './errors.js';
import { asBin, asFields, bytes, uint, type Fields } from './fields.js';

/**
 * Target -> source: xxh64 hashes (u64 LE) of pages [firstPage, firstPage + n) of one image, as the target
 * holds them. Sent after WELCOME{resumed:true}, in order, in chunks of at most PAGE_TABLE_CHUNK_PAGES.
 */
export interface PageTable {
  readonly type: typeof MessageType.PageTable;
  readonly image: number;
  readonly firstPage: number;
  readonly hashes: Uint8Array;
}

export const PAGE_TABLE_CHUNK_PAGES = 256 * 1024;

export const encodePageTable = (msg: PageTable): Fields => ({ image: msg.image, firstPage: msg.firstPage, hashes: asBin(msg.hashes) });

export function decodePageTable(body: unknown): PageTable {
  const what = 'PAGE_TABLE';
  const f = asFields(body, what);
  const hashes = bytes(f, 'hashes', what, PAGE_TABLE_CHUNK_PAGES * 8);
  if (hashes.length === 0 || hashes.length % 8 !== 0) throw malformed(`${what}: ${hashes.length} bytes is not a whole number of u64 hashes`);
  return {
    type: MessageType.PageTable,
    image: uint(f, 'image', what, 0xffff),
    firstPage: uint(f, 'firstPage', what, 0xffff_ffff),
    hashes,
  };
}
