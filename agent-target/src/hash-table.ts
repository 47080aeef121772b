import type { PageHasher } from '@ferry/pages';

/** Entries per chunk: 128 KiB of u64 hashes, allocated the first time a page in its range changes. */
export const HASH_CHUNK_PAGES = 16 * 1024;

type StreamingHash = ReturnType<PageHasher['create']>;

const bytesOf = (table: BigUint64Array, start: number, end: number): Uint8Array =>
  new Uint8Array(table.buffer, table.byteOffset + start * 8, (end - start) * 8);

/**
 * The hash of every page of one image as the target holds it, in chunks allocated lazily: a chunk whose
 * pages all still hold `initial` (the zero page's hash) costs nothing, so memory follows the pages that
 * actually arrived rather than the size a HELLO announced.
 */
export class PageHashTable {
  readonly length: number;
  readonly initial: bigint;
  readonly #chunks: Array<BigUint64Array | undefined>;
  /** A shared read-only chunk of `initial`, standing in for every chunk not yet allocated. */
  #untouched: BigUint64Array | undefined;
  #allocated = 0;
  /** Asked for a chunk's bytes before it is allocated; throws when the target has no table memory left. */
  readonly #charge: (bytes: number) => void;

  constructor(length: number, initial: bigint, charge: (bytes: number) => void = () => {}) {
    this.length = length;
    this.initial = initial;
    this.#charge = charge;
    this.#chunks = new Array<BigUint64Array | undefined>(Math.ceil(length / HASH_CHUNK_PAGES));
  }

  /** Bytes held by allocated chunks. */
  get allocatedBytes(): number {
    return this.#allocated * HASH_CHUNK_PAGES * 8;
  }

  get(page: number): bigint {
    const chunk = this.#chunks[Math.floor(page / HASH_CHUNK_PAGES)];
    return chunk ? chunk[page % HASH_CHUNK_PAGES]! : this.initial;
  }

  set(page: number, hash: bigint): void {
    const index = Math.floor(page / HASH_CHUNK_PAGES);
    let chunk = this.#chunks[index];
    if (!chunk) {
      if (hash === this.initial) return;
      this.#charge(HASH_CHUNK_PAGES * 8);
      chunk = new BigUint64Array(HASH_CHUNK_PAGES).fill(this.initial);
      this.#chunks[index] = chunk;
      this.#allocated++;
    }
    chunk[page % HASH_CHUNK_PAGES] = hash;
  }

  /**
   * The entries [start, end) as little-endian u64 bytes, in pieces that never cross a chunk: views, not
   * copies, so walking the whole table allocates nothing.
   */
  *pieces(start = 0, end = this.length): Generator<Uint8Array> {
    for (let at = start; at < end;) {
      const index = Math.floor(at / HASH_CHUNK_PAGES);
      const offset = at - index * HASH_CHUNK_PAGES;
      const stop = Math.min(end, (index + 1) * HASH_CHUNK_PAGES);
      yield bytesOf(this.#chunks[index] ?? this.#untouchedChunk(), offset, offset + (stop - at));
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

  #untouchedChunk(): BigUint64Array {
    this.#untouched ??= new BigUint64Array(HASH_CHUNK_PAGES).fill(this.initial);
    return this.#untouched;
  }
}
