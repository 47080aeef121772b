import type { PageHasher } from '@ferry/pages';
import { UNCHARGED, type TableMemory } from './table-memory.js';
import { SparseHashes } from './sparse-hashes.js';

/** Entries per chunk: a dense chunk is 128 KiB of u64 hashes. */
export const HASH_CHUNK_PAGES = 16 * 1024;
export const DENSE_CHUNK_BYTES = HASH_CHUNK_PAGES * 8;
/**
 * A chunk turns dense when this many of its pages hold a hash other than `initial`: 64 bytes per such
 * page in the dense form, while the same pages in the sparse table cost 24 to 48 bytes each.
 */
export const DENSE_AT = 2048;

type StreamingHash = ReturnType<PageHasher['create']>;

const bytesOf = (table: BigUint64Array, start: number, end: number): Uint8Array =>
  new Uint8Array(table.buffer, table.byteOffset + start * 8, (end - start) * 8);

/**
 * The hash of every page of one image as the target holds it. A page still holding `initial` (the zero
 * page's hash) costs nothing. A chunk of 16384 pages keeps its other pages in one table-wide sparse
 * table until DENSE_AT of them are there, and then becomes a dense array. So the memory a table takes
 * follows the pages that actually arrived, at most 112 bytes for each distinct page a source wrote
 * (48 in the sparse table at its largest, 64 in a dense chunk), never the size a HELLO announced, and
 * never a whole chunk for one page.
 */
export class PageHashTable {
  readonly length: number;
  readonly initial: bigint;
  readonly #dense: Array<BigUint64Array | undefined>;
  /** Per chunk, how many of its pages are in the sparse table. */
  readonly #counts: Uint16Array;
  readonly #sparse: SparseHashes;
  /** A shared read-only chunk of `initial`, standing in for every chunk that holds nothing else. */
  #untouched: BigUint64Array | undefined;
  #denseChunks = 0;
  /** Asked for bytes before they are allocated (throws when the target has no table memory left for them). */
  readonly #memory: TableMemory;

  constructor(length: number, initial: bigint, memory: TableMemory = UNCHARGED) {
    this.length = length;
    this.initial = initial;
    this.#memory = memory;
    const chunks = Math.ceil(length / HASH_CHUNK_PAGES);
    this.#dense = new Array<BigUint64Array | undefined>(chunks);
    this.#counts = new Uint16Array(chunks);
    this.#sparse = new SparseHashes(memory);
  }

  /** Bytes held by dense chunks and the sparse table. */
  get allocatedBytes(): number {
    return this.#denseChunks * DENSE_CHUNK_BYTES + this.#sparse.bytes;
  }

  get(page: number): bigint {
    const index = Math.floor(page / HASH_CHUNK_PAGES);
    const chunk = this.#dense[index];
    if (chunk) return chunk[page - index * HASH_CHUNK_PAGES]!;
    return this.#counts[index] === 0 ? this.initial : (this.#sparse.get(page) ?? this.initial);
  }

  set(page: number, hash: bigint): void {
    const index = Math.floor(page / HASH_CHUNK_PAGES);
    const chunk = this.#dense[index];
    if (chunk) {
      chunk[page - index * HASH_CHUNK_PAGES] = hash;
      return;
    }
    const count = this.#counts[index]!;
    if (hash === this.initial) {
      if (count !== 0 && this.#sparse.delete(page)) this.#counts[index] = count - 1;
      return;
    }
    if (!this.#sparse.set(page, hash)) return;
    this.#counts[index] = count + 1;
    if (count + 1 >= DENSE_AT) this.#densify(index);
  }

  /** Moves a chunk's pages out of the sparse table into a dense array of its own. */
  #densify(index: number): void {
    this.#memory.take(DENSE_CHUNK_BYTES);
    const chunk = new BigUint64Array(HASH_CHUNK_PAGES).fill(this.initial);
    const first = index * HASH_CHUNK_PAGES;
    const end = Math.min(this.length, first + HASH_CHUNK_PAGES);
    for (let page = first, left = this.#counts[index]!; page < end && left > 0; page++) {
      const hash = this.#sparse.get(page);
      if (hash === undefined) continue;
      chunk[page - first] = hash;
      this.#sparse.delete(page);
      left--;
    }
    this.#counts[index] = 0;
    this.#dense[index] = chunk;
    this.#denseChunks++;
  }

  /**
   * The entries [start, end) as little-endian u64 bytes, in pieces that never cross a chunk: views, not
   * copies, so walking the whole table allocates nothing.
   */
  *pieces(start = 0, end = this.length): Generator<Uint8Array> {
    for (let at = start; at < end;) {
      const index = Math.floor(at / HASH_CHUNK_PAGES);
      const stop = Math.min(end, (index + 1) * HASH_CHUNK_PAGES);
      yield this.#piece(index, at, stop);
      at = stop;
    }
  }

  /** Digest of the whole table, as `tableDigest` of @ferry/pages computes it over a flat table. */
  digest(hasher: PageHasher): bigint {
    const state = hasher.create();
    for (const piece of this.pieces()) state.update(piece);
    return state.digest();
  }

  /** Digests of consecutive blocks of `blockPages` entries, as `blockDigests` of @ferry/pages. */
  blockDigests(hasher: PageHasher, blockPages: number): BigUint64Array {
    const blocks = new BigUint64Array(Math.ceil(this.length / blockPages));
    for (let block = 0; block < blocks.length; block++) {
      const start = block * blockPages;
      const end = Math.min(this.length, start + blockPages);
      blocks[block] = this.#digestRange(hasher, start, end);
    }
    return blocks;
  }

  #digestRange(hasher: PageHasher, start: number, end: number): bigint {
    let state: StreamingHash | undefined;
    let only: Uint8Array | undefined;
    for (const piece of this.pieces(start, end)) {
      if (!only && !state) {
        only = piece;
        continue;
      }
      if (!state) {
        state = hasher.create();
        state.update(only!);
      }
      state.update(piece);
    }
    // xxh64 streamed over pieces equals xxh64 of their concatenation; one piece needs no stream.
    return state ? state.digest() : hasher.hashPage(only ?? new Uint8Array(0));
  }

  /**
   * The entries [start, end) of one chunk as bytes: a view of its dense array or of the shared untouched
   * one, or a copy made from the sparse table (fresh each time: a caller may hold a piece while it reads
   * the next).
   */
  #piece(index: number, start: number, end: number): Uint8Array {
    const first = index * HASH_CHUNK_PAGES;
    const dense = this.#dense[index];
    if (dense) return bytesOf(dense, start - first, end - first);
    if (this.#counts[index] === 0) return bytesOf(this.#untouchedChunk(), start - first, end - first);
    const entries = new BigUint64Array(end - start);
    for (let page = start; page < end; page++) entries[page - start] = this.#sparse.get(page) ?? this.initial;
    return bytesOf(entries, 0, entries.length);
  }

  #untouchedChunk(): BigUint64Array {
    this.#untouched ??= new BigUint64Array(HASH_CHUNK_PAGES).fill(this.initial);
    return this.#untouched;
  }
}
