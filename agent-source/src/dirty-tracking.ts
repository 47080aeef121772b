/**
 * Dirty sources other than the hash scan (docs/design.md, "Dirty sources"). A plain image is hash-scanned in full
 * every pass; an image with a DirtyTracker (a QEMU guest disk, built by the CLI from @ferry/qemu) is
 * read in full only in pass 0, and later passes scan just the pages its tracker reports written. The
 * pass loop, the encoders, verify, commit and rollback do not know the difference.
 *
 * What the target has not acknowledged is never forgotten: each frozen generation stays until an ACK
 * shows the target applied the pass that sent it. After a reconnect, the next pass also scans every
 * unacknowledged generation's pages (the whole image while pass 0 is unacknowledged), because what was
 * in flight when the link broke may be lost; the page hashes then skip what did arrive.
 */

import { mergeRanges, type PageRange } from '@ferry/protocol';

/** What a freeze may need to know about its pass. */
export interface FreezeContext {
  /** The workload is paused (the final pass): a tracker need not, and must not, stop or continue it. */
  readonly paused: boolean;
}

/** Tracks an image's writes in generations; hypervisor-specific, so it lives outside the agent. */
export interface DirtyTracker {
  /** The tracking method, for logs and the summary (e.g. `qemu-bitmap`). */
  readonly kind: string;
  /** Starts recording writes; called once, just before pass 0 reads the image. */
  start(): Promise<void>;
  /** Freezes the writes recorded since the last freeze (or start) and starts a new generation. */
  freeze(context?: FreezeContext): Promise<{ generation: number; ranges: readonly PageRange[] }>;
  /** The target holds every page of generations <= `generation`: their tracking may go. */
  release(generation: number): Promise<void>;
  /** Removes everything it set up (after commit, rollback or failure). Never throws. */
  close(): Promise<void>;
  /**
   * The image is a process's memory (soft-dirty), not a disk: it is not summarized as a disk, and the
   * state hook need not wait for it in the final pass.
   */
  readonly memory?: boolean;
  /** Every this many pre-copy passes, read the whole image anyway (the page hashes double-check the log). */
  readonly fullCheckEvery?: number;
  /** Which method found the dirty pages in the end, and why (fallbacks included), for the summary. */
  describe?(): { method: string; reason: string };
}

interface Pending {
  readonly pass: number;
  readonly generation: number | undefined;
  readonly ranges: readonly PageRange[] | 'all';
}

/** One tracked image: its unacknowledged generations and whether the next pass must look wider. */
class TrackedImage {
  readonly tracker: DirtyTracker;
  readonly pending: Pending[] = [];
  afterReconnect = false;
  passesRead = 0;
  /** Pre-copy passes since the last one that read every page. */
  sinceFullRead = 0;

  constructor(tracker: DirtyTracker) {
    this.tracker = tracker;
  }
}

export class DirtyTracking {
  readonly #images: ReadonlyArray<TrackedImage | undefined>;
  readonly #onError: (error: unknown) => void;
  #releasing: Promise<void> = Promise.resolve();

  /** `trackers[i]` tracks image i (HELLO order); undefined means hash scan. */
  constructor(trackers: ReadonlyArray<DirtyTracker | undefined>, onError: (error: unknown) => void) {
    this.#images = trackers.map((tracker) => (tracker ? new TrackedImage(tracker) : undefined));
    this.#onError = onError;
  }

  get active(): boolean {
    return this.#images.some((image) => image !== undefined);
  }

  /** The indexes of the images a tracker follows; `disks`: only those that are not a process's memory. */
  trackedImages(which: 'all' | 'disks' = 'all'): number[] {
    return this.#images.flatMap((image, index) => (image && (which === 'all' || !image.tracker.memory) ? [index] : []));
  }

  /** How each tracked image's dirty pages were found (undefined: hash scan, or a tracker that does not say). */
  describe(): Array<{ method: string; reason: string } | undefined> {
    return this.#images.map((image) => image?.tracker.describe?.());
  }

  /** Before pass 0: every tracker starts recording. */
  async start(): Promise<void> {
    for (const image of this.#images) await image?.tracker.start();
  }

  /**
   * The pages pass `pass` scans of image `index`; undefined means every page. `paused`: the final pass,
   * which never becomes a full read (the periodic full read belongs to pre-copy).
   */
  async rangesFor(index: number, pass: number, paused = false): Promise<PageRange[] | undefined> {
    const image = this.#images[index];
    if (!image) return undefined;
    image.passesRead++;
    if (pass === 0 && image.pending.length === 0) {
      image.pending.push({ pass, generation: undefined, ranges: 'all' });
      return undefined;
    }
    const frozen = await image.tracker.freeze({ paused });
    const widen = image.afterReconnect ? image.pending.map((p) => p.ranges) : [];
    image.afterReconnect = false;
    const every = image.tracker.fullCheckEvery;
    const fullRead = !paused && every !== undefined && ++image.sinceFullRead >= every;
    if (fullRead) image.sinceFullRead = 0;
    image.pending.push({ pass, generation: frozen.generation, ranges: fullRead ? 'all' : frozen.ranges });
    if (fullRead || widen.includes('all')) return undefined;
    return mergeRanges([frozen.ranges, ...(widen as Array<readonly PageRange[]>)].flat());
  }

  /** The link broke: the next pass of every tracked image also covers what was not acknowledged. */
  reconnected(): void {
    for (const image of this.#images) if (image) image.afterReconnect = true;
  }

  /** The target applied every page of passes <= `pass` (an ACK from a later pass says so). */
  acknowledged(pass: number): void {
    for (const image of this.#images) {
      if (!image) continue;
      let newest: number | undefined;
      while (image.pending.length > 0 && image.pending[0]!.pass <= pass) {
        newest = image.pending.shift()!.generation ?? newest;
      }
      if (newest === undefined) continue;
      const generation = newest;
      this.#releasing = this.#releasing.then(() => image.tracker.release(generation)).catch(this.#onError);
    }
  }

  /** Passes that read each image (pass 0 included); undefined entries are hash-scanned images. */
  passesRead(): Array<number | undefined> {
    return this.#images.map((image) => image?.passesRead);
  }

  async close(): Promise<void> {
    await this.#releasing;
    await Promise.all(this.#images.map((image) => image?.tracker.close()));
  }
}
