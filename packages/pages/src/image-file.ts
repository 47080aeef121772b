import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, statSync, writeSync, writevSync, constants } from 'node:fs';

/**
 * A memory image as a file of fixed-size pages, read and written with pread/pwrite at page offsets.
 * Synchronous on purpose: the scan runs in worker threads where blocking is the cheapest way to read,
 * and the target applies one message at a time.
 */
export class ImageFile {
  readonly path: string;
  readonly pageSize: number;
  readonly size: number;
  readonly pageCount: number;
  #fd: number | undefined;

  private constructor(path: string, fd: number, pageSize: number, size: number) {
    this.path = path;
    this.#fd = fd;
    this.pageSize = pageSize;
    this.size = size;
    this.pageCount = Math.ceil(size / pageSize);
  }

  /** Opens an existing image to read; its size must be a whole number of pages. */
  static openRead(path: string, pageSize: number): ImageFile {
    const fd = openSync(path, constants.O_RDONLY);
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw new Error(`${path} is not a regular file`);
      if (stat.size === 0 || stat.size % pageSize !== 0) {
        throw new Error(`${path} is ${stat.size} bytes, not a positive multiple of the ${pageSize}-byte page size`);
      }
      return new ImageFile(path, fd, pageSize, stat.size);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** Creates (or truncates) a sparse file of `size` bytes: every page reads as zero until written. */
  static createSparse(path: string, size: number, pageSize: number): ImageFile {
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC, 0o600);
    try {
      ftruncateSync(fd, size);
      return new ImageFile(path, fd, pageSize, size);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** Opens an existing image to read and write, keeping its content. */
  static openWrite(path: string, pageSize: number): ImageFile {
    const fd = openSync(path, constants.O_RDWR);
    return new ImageFile(path, fd, pageSize, fstatSync(fd).size);
  }

  get #handle(): number {
    if (this.#fd === undefined) throw new Error(`${this.path} is closed`);
    return this.#fd;
  }

  /** Reads `count` pages from `firstPage` into `into`; returns the bytes read (short only at the end). */
  readPages(firstPage: number, count: number, into: Uint8Array): number {
    const length = Math.min(count * this.pageSize, this.size - firstPage * this.pageSize, into.length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.#handle, into, done, length - done, firstPage * this.pageSize + done);
      if (n === 0) break; // the file shrank under us: what is missing reads as zero
      done += n;
    }
    if (done < length) into.fill(0, done, length);
    return length;
  }

  readPage(page: number, into: Uint8Array): Uint8Array {
    this.readPages(page, 1, into);
    return into.subarray(0, this.pageSize);
  }

  writePage(page: number, bytes: Uint8Array): void {
    this.writeAt(page * this.pageSize, bytes);
  }

  /** Writes consecutive pages starting at `firstPage` in one call. */
  writePages(firstPage: number, bytes: Uint8Array): void {
    this.writeAt(firstPage * this.pageSize, bytes);
  }

  /** Writes pages that are consecutive in the file but not in memory, in one system call (pwritev). */
  writePagesGathered(firstPage: number, pages: readonly Uint8Array[]): void {
    const position = firstPage * this.pageSize;
    const length = pages.length * this.pageSize;
    if (position + length > this.size) throw new RangeError(`write of ${pages.length} pages at page ${firstPage} is past the end of ${this.path}`);
    const written = writevSync(this.#handle, pages as Uint8Array[], position);
    // A short pwritev is legal: finish page by page, from inside the page where it stopped.
    for (let i = Math.floor(written / this.pageSize); i < pages.length; i++) {
      const skip = Math.max(0, written - i * this.pageSize);
      this.writeAt(position + i * this.pageSize + skip, pages[i]!.subarray(skip));
    }
  }

  private writeAt(position: number, bytes: Uint8Array): void {
    if (position + bytes.length > this.size) throw new RangeError(`write of ${bytes.length} bytes at ${position} is past the end of ${this.path}`);
    let done = 0;
    while (done < bytes.length) done += writeSync(this.#handle, bytes, done, bytes.length - done, position + done);
  }

  sync(): void {
    fsyncSync(this.#handle);
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** Bytes the file really occupies on disk: well below its size when it is sparse. */
export function allocatedBytes(path: string): number {
  return statSync(path).blocks * 512;
}
