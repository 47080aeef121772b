import xxhash from 'xxhash-wasm';
import { RangeCollector, type PageRange } from '@ferry/protocol';

/**
 * xxh64 of pages and of page-hash tables. One instance per thread: xxhash-wasm's module is cheap to
 * instantiate, and a worker cannot share the main thread's.
 */
export interface PageHasher {
  /** xxh64 (seed 0) of the bytes: the identity of a page's content. */
  hashPage(bytes: Uint8Array): bigint;
  /** A streaming xxh64, for blobs too big to hold at once. */
  create(): { update(bytes: Uint8Array): unknown; digest(): bigint };
}

export async function createPageHasher(): Promise<PageHasher> {
  const { h64Raw, create64 } = await xxhash();
  return {
    hashPage: (bytes) => h64Raw(bytes),
    create: () => create64(),
  };
}

/** The hash of an all-zero page: what a sparse target holds before anything is written. */
export function zeroPageHash(hasher: PageHasher, pageSize: number): bigint {
  return hasher.hashPage(new Uint8Array(pageSize));
}

const tableBytes = (table: BigUint64Array, start = 0, end = table.length): Uint8Array =>
  new Uint8Array(table.buffer, table.byteOffset + start * 8, (end - start) * 8);

/** Digest of a whole page-hash table: equal digests mean equal images (to xxh64's strength). */
export function tableDigest(hasher: PageHasher, table: BigUint64Array): bigint {
  // Hashed in slices: h64Raw copies its input into wasm memory, which should not grow by the table size.
  const state = hasher.create();
  const slice = 64 * 1024;
  for (let start = 0; start < table.length; start += slice) state.update(tableBytes(table, start, Math.min(table.length, start + slice)));
  return state.digest();
}

/** Digests of consecutive blocks of `blockPages` entries, so a mismatch can be narrowed to page ranges. */
export function blockDigests(hasher: PageHasher, table: BigUint64Array, blockPages: number): BigUint64Array {
  const blocks = new BigUint64Array(Math.ceil(table.length / blockPages));
  for (let block = 0; block < blocks.length; block++) {
    const start = block * blockPages;
    blocks[block] = hasher.hashPage(tableBytes(table, start, Math.min(table.length, start + blockPages)));
  }
  return blocks;
}

/** Page ranges [start, end) whose blocks differ between two block-digest lists of the same geometry. */
export function mismatchedRanges(ours: BigUint64Array, theirs: BigUint64Array, blockPages: number, pageCount: number): PageRange[] {
  const ranges = new RangeCollector();
  for (let block = 0; block < ours.length; block++) {
    if (ours[block] !== theirs[block]) ranges.add(block * blockPages, Math.min(pageCount, (block + 1) * blockPages));
  }
  return ranges.done();
}
