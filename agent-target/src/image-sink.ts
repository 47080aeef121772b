import { open, rename } from 'node:fs/promises';
import { ErrorCode, FerryError, PageEncoding, type PageRange, type PageRecord } from '@ferry/protocol';
import { ImageFile, lz4Decompress, mismatchedRanges, PayloadError, xorInto, zeroPageHash, type PageHasher } from '@ferry/pages';
import { UNCHARGED, type TableMemory } from './table-memory.js';
import { PageHashTable } from './hash-table.js';

/** Pages per pwritev (Linux IOV_MAX is 1024). */
const MAX_GATHER = 256;

/** Records that carry a whole page on their own: no read of the target file needed to apply them. */
const isWholePage = (record: PageRecord): boolean => record.encoding === PageEncoding.Raw || record.encoding === PageEncoding.Lz4;

export interface VerifyRequest {
  readonly pageCount: number;
  readonly digest: bigint;
  readonly blockPages: number;
  readonly blockDigests: BigUint64Array;
}

/**
 * One received image: a sparse `.partial` file and the running table of the hash of every page as
 * written. The table is what VERIFY compares and what a resumed source is told the target holds; it
 * grows with the pages that arrive (see PageHashTable), never with the size a HELLO announces.
 */
export class ImageSink {
  readonly name: string;
  readonly finalPath: string;
  readonly partialPath: string;
  readonly pageSize: number;
  readonly pageCount: number;
  readonly hashes: PageHashTable;
  readonly #hasher: PageHasher;
  readonly #zeroHash: bigint;
  readonly #file: ImageFile;
  readonly #page: Uint8Array;
  readonly #other: Uint8Array;
  pagesApplied = 0;
  /** Milliseconds spent producing and writing whole-page runs, and hashing them (see PassClock). */
  writeMs = 0;
  hashMs = 0;

  private constructor(name: string, finalPath: string, file: ImageFile, hasher: PageHasher, memory: TableMemory) {
    this.name = name;
    this.finalPath = finalPath;
    this.partialPath = file.path;
    this.pageSize = file.pageSize;
    this.pageCount = file.pageCount;
    this.#file = file;
    this.#hasher = hasher;
    this.#zeroHash = zeroPageHash(hasher, file.pageSize);
    this.hashes = new PageHashTable(file.pageCount, this.#zeroHash, memory);
    this.#page = new Uint8Array(file.pageSize);
    this.#other = new Uint8Array(file.pageSize);
  }

  /** A new, all-zero sparse image. */
  static create(name: string, finalPath: string, size: number, pageSize: number, hasher: PageHasher, memory: TableMemory = UNCHARGED): ImageSink {
    const file = ImageFile.createSparse(`${finalPath}.partial`, size, pageSize);
    return new ImageSink(name, finalPath, file, hasher, memory);
  }

  /**
   * Applies a validated message's records in order. Runs of whole pages (RAW or LZ4) with consecutive
   * indices, which is most of pass 0, are written with one pwritev instead of one pwrite per page.
   */
  applyAll(records: readonly PageRecord[]): void {
    for (let i = 0; i < records.length;) {
      const first = records[i]!;
      let end = i + 1;
      if (isWholePage(first)) {
        while (end < records.length && end - i < MAX_GATHER && isWholePage(records[end]!) && records[end]!.pageIndex === first.pageIndex + (end - i)) end++;
      }
      if (end - i === 1) {
        this.apply(first);
      } else {
        const started = performance.now();
        const pages = records.slice(i, end).map((record) => this.#wholePage(record));
        this.#file.writePagesGathered(first.pageIndex, pages);
        const written = performance.now();
        for (const [k, page] of pages.entries()) this.hashes.set(first.pageIndex + k, this.#hasher.hashPage(page));
        this.hashMs += performance.now() - written;
        this.writeMs += written - started;
        this.pagesApplied += pages.length;
      }
      i = end;
    }
  }

  #wholePage(record: PageRecord): Uint8Array {
    return record.encoding === PageEncoding.Raw ? record.payload : this.#decompress(record);
  }

  /** LZ4 payloads are checked for their declared size when decoded; the produced size is checked here. */
  #decompress(record: PageRecord): Uint8Array {
    try {
      return lz4Decompress(record.payload, this.pageSize);
    } catch (error) {
      if (error instanceof PayloadError) throw new FerryError(ErrorCode.BadPayload, `image ${this.name} page ${record.pageIndex}: ${error.message}`);
      throw error;
    }
  }

  /** Applies one validated record; the payload checks that need decompression happen here. */
  apply(record: PageRecord): void {
    const { pageIndex } = record;
    let bytes: Uint8Array;
    let hash: bigint | undefined;
    switch (record.encoding) {
      case PageEncoding.Zero:
        if (this.hashes.get(pageIndex) === this.#zeroHash) return;
        bytes = this.#page.fill(0);
        hash = this.#zeroHash;
        break;
      case PageEncoding.Raw:
      case PageEncoding.Lz4:
        bytes = this.#wholePage(record);
        break;
      case PageEncoding.XorLz4:
        xorInto(this.#page, this.#file.readPage(pageIndex, this.#other), this.#decompress(record));
        bytes = this.#page;
        break;
      case PageEncoding.Copy:
        bytes = this.#file.readPage(record.from, this.#page);
        hash = this.hashes.get(record.from);
        break;
      default:
        throw new FerryError(ErrorCode.Malformed, `unknown page encoding ${String(record.encoding)}`);
    }
    this.#file.writePage(pageIndex, bytes);
    this.hashes.set(pageIndex, hash ?? this.#hasher.hashPage(bytes));
    this.pagesApplied++;
  }

  /** Compares the source's table digests with ours; returns the page ranges that differ. */
  verify(request: VerifyRequest): { ok: boolean; mismatches: PageRange[] } {
    if (request.pageCount !== this.pageCount) {
      throw new FerryError(ErrorCode.Verify, `VERIFY of image ${this.name} is for ${request.pageCount} pages; it has ${this.pageCount}`);
    }
    const ours = this.hashes.blockDigests(this.#hasher, request.blockPages);
    const mismatches = mismatchedRanges(ours, request.blockDigests, request.blockPages, this.pageCount);
    const digestMatches = this.hashes.digest(this.#hasher) === request.digest;
    if (!digestMatches && mismatches.length === 0) mismatches.push([0, this.pageCount]);
    return { ok: digestMatches && mismatches.length === 0, mismatches };
  }

  /** fsync off the event loop: a second descriptor of the same file flushes the same pages. */
  async sync(): Promise<void> {
    const handle = await open(this.partialPath, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  close(): void {
    this.#file.close();
  }

  /** The commit point for this file: it leaves its `.partial` name. */
  async publish(): Promise<void> {
    await rename(this.partialPath, this.finalPath);
  }
}
