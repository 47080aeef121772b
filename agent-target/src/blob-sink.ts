import { closeSync, fsync, openSync, writeSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { promisify } from 'node:util';
import { digestToHex, ErrorCode, FerryError, type Limits } from '@ferry/protocol';
import type { PageHasher } from '@ferry/pages';
import { ioError } from './io-error.js';

const fsyncAsync = promisify(fsync);

/** One state blob being received: STATE{name,size}, STATE_CHUNK*, STATE_END{xxh64}. */
export class BlobSink {
  readonly name: string;
  readonly size: number;
  readonly finalPath: string;
  readonly partialPath: string;
  #fd: number | undefined;
  #received = 0;
  readonly #hash: ReturnType<PageHasher['create']>;

  constructor(name: string, size: number, finalPath: string, hasher: PageHasher, limits: Limits) {
    if (size > limits.maxBlobBytes) throw new FerryError(ErrorCode.Limit, `state blob ${name} is ${size} bytes, over this target's limit of ${limits.maxBlobBytes}`);
    this.name = name;
    this.size = size;
    this.finalPath = finalPath;
    this.partialPath = `${finalPath}.partial`;
    this.#fd = openSync(this.partialPath, 'w', 0o600);
    this.#hash = hasher.create();
  }

  write(data: Uint8Array): void {
    if (this.#fd === undefined) throw new FerryError(ErrorCode.UnexpectedMessage, `STATE_CHUNK after STATE_END of blob ${this.name}`);
    if (this.#received + data.length > this.size) {
      throw new FerryError(ErrorCode.Malformed, `state blob ${this.name} is longer than the ${this.size} bytes announced`);
    }
    let done = 0;
    try {
      while (done < data.length) done += writeSync(this.#fd, data, done, data.length - done);
    } catch (error) {
      throw ioError(error, 'writing state blob', this.partialPath);
    }
    this.#hash.update(data);
    this.#received += data.length;
  }

  /**
   * Checks size and hash, then fsyncs (off the event loop): a blob that does not match is an error, never
   * a short copy.
   */
  async end(name: string, xxh64: string): Promise<void> {
    if (this.#fd === undefined) throw new FerryError(ErrorCode.UnexpectedMessage, `a second STATE_END for blob ${this.name}`);
    if (name !== this.name) throw new FerryError(ErrorCode.Malformed, `STATE_END for ${name} while receiving ${this.name}`);
    if (this.#received !== this.size) throw new FerryError(ErrorCode.Malformed, `state blob ${name}: ${this.#received} of ${this.size} bytes arrived`);
    const digest = digestToHex(this.#hash.digest());
    if (digest !== xxh64) throw new FerryError(ErrorCode.Verify, `state blob ${name}: xxh64 ${digest} does not match the source's ${xxh64}`);
    const fd = this.#fd;
    this.#fd = undefined;
    try {
      await fsyncAsync(fd);
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  async publish(): Promise<void> {
    await rename(this.partialPath, this.finalPath);
  }
}
