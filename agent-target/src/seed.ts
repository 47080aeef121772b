import { open, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import { ErrorCode, FerryError } from '@ferry/protocol';
import { isZeroPage, type PageHasher } from '@ferry/pages';
import type { ImageSink } from './image-sink.js';

/** Bytes read from a base per step: each step is one read, a few writes and one turn of the event loop. */
const STEP_BYTES = 1024 * 1024;

/**
 * How many base copies run at once, target-wide: a copy is bound by the disk, and more at once only
 * share it while each holds its sessions back longer.
 */
export class CopySlots {
  readonly #limit: number;
  #busy = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#busy >= this.#limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#busy++;
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#busy--;
    }
  }
}

/**
 * Seeds a session's images from their `--base` copies, range by range, as the page tables that describe
 * those ranges are about to be sent: asynchronous reads and writes in 1 MiB steps, so the target keeps
 * serving every other session, /status and its timers while a large base is copied. Only non-zero pages
 * are written (the image stays sparse) and each gets its hash in the table. Ranges are seeded once: a
 * source that resumes after a cut continues where the copy stopped. A base that cannot be read is logged
 * here and the image keeps what was copied so far (its table says exactly that).
 */
export class BaseSeeds {
  readonly #sinks: readonly ImageSink[];
  readonly #paths: Array<string | undefined>;
  readonly #hasher: PageHasher;
  readonly #slots: CopySlots;
  readonly #log: Logger;
  /** Per image: pages below this are seeded (or need no seed). */
  readonly #done: number[];
  #chain: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(sinks: readonly ImageSink[], paths: Array<string | undefined>, hasher: PageHasher, slots: CopySlots, log: Logger) {
    this.#sinks = sinks;
    this.#paths = paths;
    this.#hasher = hasher;
    this.#slots = slots;
    this.#log = log;
    this.#done = sinks.map((sink, i) => (paths[i] === undefined ? sink.pageCount : 0));
  }

  /** Whether any image has a base to be seeded from. */
  get any(): boolean {
    return this.#paths.some((path) => path !== undefined);
  }

  /** Seeds image `image` up to page `end` (one seeding at a time per session, in order). */
  upTo(image: number, end: number): Promise<void> {
    const next = this.#chain.then(() => this.#seed(image, end));
    this.#chain = next.catch(() => {});
    return next;
  }

  /** No more seeding; resolves once a step in progress has finished. */
  stop(): Promise<void> {
    this.#stopped = true;
    return this.#chain;
  }

  async #seed(image: number, end: number): Promise<void> {
    const path = this.#paths[image];
    const sink = this.#sinks[image]!;
    const from = this.#done[image]!;
    if (path === undefined || from >= end || this.#stopped) return;
    await this.#slots.run(async () => {
      let base: FileHandle | undefined;
      let target: FileHandle | undefined;
      try {
        base = await open(path, 'r');
        target = await open(sink.partialPath, 'r+');
        await this.#copy(base, target, sink, image, end);
      } catch (error) {
        if (isLimit(error)) throw error;
        this.#log.warn({ image: sink.name, base: path, err: error }, 'reading --base failed: the image keeps what was copied so far, the source sends the rest');
        this.#paths[image] = undefined;
        this.#done[image] = sink.pageCount;
      } finally {
        await base?.close();
        await target?.close();
      }
    });
  }

  async #copy(base: FileHandle, target: FileHandle, sink: ImageSink, image: number, end: number): Promise<void> {
    const { pageSize } = sink;
    const buffer = new Uint8Array(Math.max(1, Math.floor(STEP_BYTES / pageSize)) * pageSize);
    for (let first = this.#done[image]!; first < end && !this.#stopped; first = this.#done[image]!) {
      const pages = Math.min(buffer.length / pageSize, end - first);
      const { bytesRead } = await base.read(buffer, 0, pages * pageSize, first * pageSize);
      if (bytesRead < pages * pageSize) throw new Error(`the base ended at byte ${first * pageSize + bytesRead}, before page ${first + pages}`);
      await this.#writeNonZero(target, sink, buffer, first, pages);
      this.#done[image] = first + pages;
    }
  }

  /** Writes each run of non-zero pages with one write, then records their hashes. */
  async #writeNonZero(target: FileHandle, sink: ImageSink, buffer: Uint8Array, first: number, pages: number): Promise<void> {
    const { pageSize } = sink;
    for (let k = 0; k < pages;) {
      if (isZeroPage(buffer.subarray(k * pageSize, (k + 1) * pageSize))) {
        k++;
        continue;
      }
      let end = k + 1;
      while (end < pages && !isZeroPage(buffer.subarray(end * pageSize, (end + 1) * pageSize))) end++;
      await target.write(buffer, k * pageSize, (end - k) * pageSize, (first + k) * pageSize);
      for (let p = k; p < end; p++) sink.hashes.set(first + p, this.#hasher.hashPage(buffer.subarray(p * pageSize, (p + 1) * pageSize)));
      k = end;
    }
  }
}

/** A table-memory refusal ends the session; every other failure only ends the seeding. */
const isLimit = (error: unknown): boolean => error instanceof FerryError && error.code === ErrorCode.Limit;
