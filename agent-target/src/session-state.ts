import { linkSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  checkDistinctVariables, decodePageRecords, ErrorCode, FerryError, hexToDigest, MessageType,
  type ControlMessage, type Hello, type Limits, type Message, type PageRange,
} from '@ferry/protocol';
import type { PageHasher } from '@ferry/pages';
import type { TargetMigrationStatus } from '@ferry/serve';
import { BlobSink } from './blob-sink.js';
import type { ImageSink } from './image-sink.js';
import { ioError } from './io-error.js';
import type { ApplyTimes } from './pass-clock.js';
import type { Manifest, Outcome } from './manifest.js';
import { removePrelaunchLinks, STATE_FOLDER } from './session-files.js';
import type { CommitContext } from './types.js';

type VerifyMessage = Extract<ControlMessage, { type: typeof MessageType.Verify }>;
type PagesMessage = Extract<Message, { type: typeof MessageType.Pages }>;

/** What one session has received: its images, its state blobs, and what has been verified. No timers, no sockets. */
export class SessionFiles {
  readonly dir: string;
  readonly images: readonly ImageSink[];
  readonly #hasher: PageHasher;
  readonly #limits: Limits;
  readonly #blobs = new Map<string, BlobSink>();
  readonly #verified = new Set<number>();
  #blob: BlobSink | undefined;
  #passes = 0;
  /** The images' final names exist already, as hard links (linkFinalNames). */
  #linked = false;
  bytesReceived = 0;
  #decodeMs = 0;

  constructor(dir: string, images: readonly ImageSink[], hasher: PageHasher, limits: Limits) {
    this.dir = dir;
    this.images = images;
    this.#hasher = hasher;
    this.#limits = limits;
  }

  get allVerified(): boolean {
    return this.#verified.size === this.images.length;
  }

  /** Time spent on PAGES so far, by step (see PassClock). */
  get applyTimes(): ApplyTimes {
    return this.images.reduce((sum, i) => ({ ...sum, writeMs: sum.writeMs + i.writeMs, hashMs: sum.hashMs + i.hashMs }), { decodeMs: this.#decodeMs, writeMs: 0, hashMs: 0 });
  }

  get pagesApplied(): number {
    return this.images.reduce((sum, i) => sum + i.pagesApplied, 0);
  }

  matches(hello: Hello): boolean {
    return hello.images.length === this.images.length && hello.images.every((image, i) => {
      const sink = this.images[i];
      return image.name === sink?.name && image.size === sink.pageCount * sink.pageSize && image.pageSize === sink.pageSize;
    });
  }

  applyPages(message: PagesMessage): void {
    const sink = this.images[message.imageIndex];
    if (!sink) throw new FerryError(ErrorCode.Malformed, `PAGES for image ${message.imageIndex}; this migration has ${this.images.length}`);
    const started = performance.now();
    const records = decodePageRecords(message.bytes, sink);
    this.#decodeMs += performance.now() - started;
    try {
      sink.applyAll(records);
    } catch (error) {
      throw ioError(error, 'writing image', sink.partialPath);
    }
    this.#verified.delete(message.imageIndex);
  }

  passEnded(pass: number): void {
    this.#passes = Math.max(this.#passes, pass + 1);
  }

  startBlob(name: string, size: number): void {
    if (this.#blob) throw new FerryError(ErrorCode.UnexpectedMessage, `STATE ${name} before STATE_END of ${this.#blob.name}`);
    if (this.#blobs.has(name)) throw new FerryError(ErrorCode.Conflict, `state blob ${name} was sent twice`);
    checkDistinctVariables([...this.#blobs.keys(), name], 'FERRY_STATE_', 'state blobs');
    if (this.#blobs.size >= this.#limits.maxBlobs) throw new FerryError(ErrorCode.Limit, `more than ${this.#limits.maxBlobs} state blobs`);
    try {
      this.#blob = new BlobSink(name, size, join(this.dir, STATE_FOLDER, name), this.#hasher, this.#limits);
    } catch (error) {
      throw ioError(error, `creating state blob ${name} in`, join(this.dir, STATE_FOLDER));
    }
    this.#blobs.set(name, this.#blob);
  }

  blobChunk(data: Uint8Array): void {
    if (!this.#blob) throw new FerryError(ErrorCode.UnexpectedMessage, 'STATE_CHUNK outside a STATE blob');
    this.#blob.write(data);
  }

  async endBlob(name: string, xxh64: string): Promise<void> {
    if (!this.#blob) throw new FerryError(ErrorCode.UnexpectedMessage, 'STATE_END outside a STATE blob');
    const blob = this.#blob;
    this.#blob = undefined;
    await blob.end(name, xxh64);
  }

  verify(message: VerifyMessage): { ok: boolean; mismatches: PageRange[] } {
    if (this.#blob) throw new FerryError(ErrorCode.UnexpectedMessage, `VERIFY before STATE_END of blob ${this.#blob.name}`);
    const sink = this.images[message.image];
    if (!sink) throw new FerryError(ErrorCode.Malformed, `VERIFY of image ${message.image}; this migration has ${this.images.length}`);
    const digests = new Uint8Array(message.blockDigests); // aligned copy
    const result = sink.verify({
      pageCount: message.pageCount, digest: hexToDigest(message.digest), blockPages: message.blockPages,
      blockDigests: new BigUint64Array(digests.buffer, 0, digests.length / 8),
    });
    if (result.ok) this.#verified.add(message.image);
    else this.#verified.delete(message.image);
    return result;
  }

  async sync(): Promise<void> {
    for (const sink of this.images) await sink.sync();
  }

  /**
   * Gives every image its final name as a hard link of its `.partial` file (for a prelaunch): the
   * workload's process opens the paths it keeps after the commit. `publish` then drops the `.partial` name.
   */
  linkFinalNames(): void {
    try {
      for (const sink of this.images) linkSync(sink.partialPath, sink.finalPath);
    } catch (error) {
      this.unlinkFinalNames();
      throw ioError(error, 'linking the final names of the images in', this.dir);
    }
    this.#linked = true;
  }

  /** Takes back what linkFinalNames did (a failure before GO). */
  unlinkFinalNames(): void {
    removePrelaunchLinks(this.dir, this.images.map((i) => i.name));
    this.#linked = false;
  }

  /** The commit point for the files: each leaves its `.partial` name (the only one it has left, once linked). */
  async publish(): Promise<void> {
    for (const sink of this.images) {
      sink.close();
      // rename() onto a hard link of the same file does nothing, so a linked image just drops its old name.
      if (this.#linked) await unlink(sink.partialPath);
      else await sink.publish();
    }
    for (const blob of this.#blobs.values()) await blob.publish();
  }

  close(): void {
    for (const sink of this.images) sink.close();
    for (const blob of this.#blobs.values()) blob.close();
  }

  /** Every `.partial` file this session created. */
  partialPaths(): string[] {
    return [...this.images.map((i) => i.partialPath), ...[...this.#blobs.values()].map((b) => b.partialPath)];
  }

  commitContext(migrationId: string): CommitContext {
    return {
      dir: this.dir, migrationId,
      images: Object.fromEntries(this.images.map((i) => [i.name, i.finalPath])),
      blobs: Object.fromEntries([...this.#blobs.values()].map((b) => [b.name, b.finalPath])),
    };
  }

  /** The manifest for `outcome`: files are named as they are in that state (`.partial` until the commit). */
  manifest(migrationId: string, outcome: Outcome, startedAt: Date, reason?: string): Manifest {
    const published = outcome === 'committed' || outcome === 'resume-failed';
    return {
      migrationId, outcome, ...(reason ? { reason } : {}),
      images: this.images.map((i) => ({ name: i.name, size: i.pageCount * i.pageSize, pageSize: i.pageSize, file: published ? i.finalPath : i.partialPath })),
      blobs: [...this.#blobs.values()].map((b) => ({ name: b.name, size: b.size, file: published ? b.finalPath : b.partialPath })),
      startedAt: startedAt.toISOString(), updatedAt: new Date().toISOString(),
      bytesReceived: this.bytesReceived, passes: this.#passes,
    };
  }

  status(): Pick<TargetMigrationStatus, 'bytesReceived' | 'pagesApplied' | 'images'> {
    return {
      bytesReceived: this.bytesReceived, pagesApplied: this.pagesApplied,
      images: this.images.map((i) => ({ name: i.name, size: i.pageCount * i.pageSize })),
    };
  }
}
