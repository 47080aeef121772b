/**
 * The soft-dirty dirty source (design: "Dirty sources"). The kernel marks each page a process writes
 * through its page tables; `4` to /proc/PID/clear_refs clears the marks, bit 55 of /proc/PID/pagemap
 * reads them. Each pre-copy freeze stops the writer, reads the marks of the image's mapping only,
 * clears them and lets the writer go: a write can then fall only before the read (seen now) or after
 * the clear (seen next time), never between. In the final pass the workload is already paused, so the
 * marks are only read.
 *
 * Whatever it cannot see, it reports dirty: pages no region of the writer covers (every pass), pages
 * whose mapping went away since the last read, everything after the mapping changed or when the writer
 * did not stay stopped. A writer that exits or a /proc read that fails turns it into the hash scan for
 * the rest of the migration, and `describe()` says so.
 */
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { mergeRanges, type PageRange } from '@ferry/protocol';
import type { DirtyTracker, FreezeContext } from '../dirty-tracking.js';
import { allThreadsStopped, type ProcessStopper } from './freezer.js';
import { parseMaps, parseStat, readWindow, regionsKey, regionsOfFile, regionWindow, uncovered, unmappedSince, type RegionWindow } from './proc.js';

/** Every this many pre-copy passes, one reads the whole image anyway: the hashes double-check the log. */
export const FULL_CHECK_EVERY = 4;

export interface SoftDirtyImage {
  readonly name: string;
  readonly size: number;
  readonly pageSize: number;
  readonly dev: number;
  readonly ino: number;
}

export interface SoftDirtyOptions {
  readonly image: SoftDirtyImage;
  /** The writer; its SIGSTOP/SIGCONT are shared with any other user (a --throttle-pid duty cycle). */
  readonly stopper: ProcessStopper;
  readonly systemPageSize: number;
  /** Why soft-dirty was chosen, for the summary. */
  readonly reason: string;
  /** Hears the one fallback to hashing, with its reason. */
  readonly onFallback?: (reason: string) => void;
}

export class SoftDirtyTracker implements DirtyTracker {
  readonly kind = 'soft-dirty';
  readonly memory = true;
  readonly fullCheckEvery = FULL_CHECK_EVERY;
  readonly #options: SoftDirtyOptions;
  readonly #pid: number;
  readonly #pageCount: number;
  #startTime: string | undefined;
  #generation = 0;
  #regions: string | undefined;
  /** Per region (by its key), which of its pages were mapped at the last read. */
  #mapped = new Map<string, Uint8Array>();
  #fallback: string | undefined;
  #notes: string[] = [];

  constructor(options: SoftDirtyOptions) {
    this.#options = options;
    this.#pid = options.stopper.pid;
    this.#pageCount = options.image.size / options.image.pageSize;
  }

  /** Clears the marks before pass 0 reads the image: pass 0 sees every earlier write, the log every later one. */
  async start(): Promise<void> {
    try {
      this.#startTime = this.#identity();
      this.#read(true);
    } catch (error) {
      this.#fallBack(error);
    }
  }

  async freeze(context?: FreezeContext): Promise<{ generation: number; ranges: PageRange[] }> {
    const generation = this.#generation++;
    if (this.#fallback !== undefined) return { generation, ranges: this.#all() };
    const paused = context?.paused === true;
    try {
      if (paused) return { generation, ranges: this.#read(false) };
      await this.#options.stopper.freeze();
      try {
        const ranges = this.#read(true);
        if (allThreadsStopped(this.#pid)) return { generation, ranges };
        this.#note(`pass ${generation + 1}: the writer was continued during the read; that pass read every page`);
        return { generation, ranges: this.#all() };
      } finally {
        this.#options.stopper.cont();
      }
    } catch (error) {
      this.#fallBack(error);
      return { generation, ranges: this.#all() };
    }
  }

  /** Nothing to release: the marks were cleared at the freeze. */
  async release(): Promise<void> {}

  async close(): Promise<void> {}

  describe(): { method: string; reason: string } {
    if (this.#fallback !== undefined) return { method: 'hash', reason: this.#fallback };
    return { method: 'soft-dirty', reason: [this.#options.reason, ...this.#notes].join('; ') };
  }

  /** The marked pages, plus every page the marks cannot vouch for; with `clear`, the marks are cleared after. */
  #read(clear: boolean): PageRange[] {
    if (this.#identity() !== this.#startTime) throw new Error(`pid ${this.#pid} is now another process`);
    const { image, systemPageSize } = this.#options;
    const regions = regionsOfFile(parseMaps(readFileSync(`/proc/${this.#pid}/maps`, 'utf8')), image);
    const key = regionsKey(regions);
    const changed = this.#regions !== undefined && key !== this.#regions;
    this.#regions = key;
    const windows: RegionWindow[] = [];
    const ranges: PageRange[] = [];
    const mapped = new Map<string, Uint8Array>();
    const fd = openSync(`/proc/${this.#pid}/pagemap`, 'r');
    try {
      for (const region of regions) {
        const window = regionWindow(region, image.size, image.pageSize, systemPageSize);
        if (!window) continue;
        windows.push(window);
        const perPage = image.pageSize / systemPageSize;
        const entries = new Uint8Array((window.endPage - window.firstPage) * perPage * 8);
        readFully(fd, entries, window.pagemapOffset);
        const reading = readWindow(entries, window, perPage);
        const regionKey = regionsKey([region]);
        ranges.push(...reading.dirty, ...unmappedSince(this.#mapped.get(regionKey), reading.mapped, window.firstPage));
        mapped.set(regionKey, reading.mapped);
      }
    } finally {
      closeSync(fd);
    }
    if (clear) writeFileSync(`/proc/${this.#pid}/clear_refs`, '4');
    this.#mapped = mapped;
    if (changed) {
      this.#note(`pass ${this.#generation}: the writer's mapping of the image changed; that pass read every page`);
      return this.#all();
    }
    return mergeRanges([...ranges, ...uncovered(windows, this.#pageCount)]);
  }

  #identity(): string | undefined {
    return parseStat(readFileSync(`/proc/${this.#pid}/stat`, 'utf8'))?.startTime;
  }

  #all(): PageRange[] {
    return [[0, this.#pageCount]];
  }

  #note(text: string): void {
    if (this.#notes.length < 5) this.#notes.push(text);
  }

  #fallBack(error: unknown): void {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' || code === 'ESRCH' ? `the writer (pid ${this.#pid}) exited` : `reading the soft-dirty log of pid ${this.#pid} failed: ${error instanceof Error ? error.message : String(error)}`;
    this.#fallback = `soft-dirty until pass ${this.#generation}, then hashing: ${why}`;
    this.#options.onFallback?.(this.#fallback);
  }
}

/** Reads `into.byteLength` bytes at `position` (a pagemap read may come back short). */
export function readFully(fd: number, into: Uint8Array, position: number): void {
  let done = 0;
  while (done < into.byteLength) {
    const n = readSync(fd, into, done, into.byteLength - done, position + done);
    if (n === 0) throw new Error(`short read of the pagemap at ${position + done}`);
    done += n;
  }
}
