import { readFileSync } from 'node:fs';
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

/**
 * xxh64 of pages that lie in the hasher's own WebAssembly memory: a chunk of the image read with
 * readSync straight into `chunk` is hashed where it lies, with no copy per page (`hashPage` copies its
 * input into wasm memory first: a second pass over every byte the scan reads).
 */
export interface ChunkHasher {
  /** The memory the hash reads; it never grows, so this view stays valid for the hasher's life. */
  readonly chunk: Uint8Array;
  /** xxh64 (seed 0) of `chunk[offset, offset + length)`: the same value as `hashPage` of those bytes. */
  hashAt(offset: number, length: number): bigint;
}

/** The little of the WebAssembly API this file uses (ferry compiles without the DOM library's types). */
interface Wasm {
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object): Promise<{ readonly exports: Record<string, unknown> }>;
}
interface XxhashExports {
  readonly mem: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  readonly xxh64: (offset: number, length: number, seed: bigint) => bigint;
}
const wasm = (globalThis as unknown as { readonly WebAssembly: Wasm }).WebAssembly;

/** xxhash-wasm's own module (the one `createPageHasher` runs), compiled once per thread. */
let xxhashModule: Promise<object> | undefined;

function loadXxhashModule(): Promise<object> {
  // The package ships its wasm as a file only for its workerd build; the ESM build inlines the same bytes.
  xxhashModule ??= wasm.compile(readFileSync(new URL('../workerd/xxhash.wasm', import.meta.resolve('xxhash-wasm'))));
  return xxhashModule;
}

/** A hasher whose memory holds `bytes` bytes of pages; one per thread that scans. */
export async function createChunkHasher(bytes: number): Promise<ChunkHasher> {
  const { exports } = await wasm.instantiate(await loadXxhashModule());
  const { mem, xxh64 } = exports as Partial<XxhashExports>;
  if (!mem || typeof xxh64 !== 'function') throw new Error('xxhash-wasm\'s module has no mem and xxh64 exports');
  // The one-shot xxh64 keeps no state in memory: all of it is the chunk's. Growing detaches old views.
  const missing = bytes - mem.buffer.byteLength;
  if (missing > 0) mem.grow(Math.ceil(missing / 65536));
  const chunk = new Uint8Array(mem.buffer, 0, bytes);
  return {
    chunk,
    hashAt: (offset, length) => {
      if (offset < 0 || length < 0 || offset + length > bytes) throw new RangeError(`hash of [${offset}, ${offset + length}) is outside the ${bytes}-byte chunk`);
      // wasm's i64 is signed; page hashes are unsigned, as h64Raw returns them.
      return BigInt.asUintN(64, xxh64(offset, length, 0n));
    },
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
