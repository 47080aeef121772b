/**
 * Page ranges: the one way ferry names a set of pages of an image, from a dirty tracker's log to the
 * scan workers' shares to a VERIFY_RESULT's mismatches on the wire.
 *
 * A `PageRange` is `[start, end)`: pages start .. end - 1, integers >= 0. One with `end <= start` is
 * empty. The contract every function here keeps:
 *   - input may come in any order, may overlap or touch, and may hold empty ranges;
 *   - output never holds an empty range;
 *   - `mergeRanges` (and `RangeCollector`) give the normal form: sorted by start, disjoint, and never
 *     touching (`[1, 3], [3, 5]` becomes `[1, 5]`); the others keep the input's order and overlaps.
 */
export type PageRange = readonly [start: number, end: number];

/** The same pages in normal form: sorted, disjoint, not touching, no empty range. */
export function mergeRanges(ranges: readonly PageRange[]): PageRange[] {
  const runs = new RangeCollector();
  for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0])) runs.add(start, end);
  return runs.done();
}

/** The parts of `ranges` inside `[first, end)`, in input order. */
export function clipRanges(ranges: readonly PageRange[], first: number, end: number): PageRange[] {
  const clipped: PageRange[] = [];
  for (const [start, stop] of ranges) {
    const a = Math.max(start, first);
    const b = Math.min(stop, end);
    if (a < b) clipped.push([a, b]);
  }
  return clipped;
}

/**
 * `ranges` cut into pieces of at most `size` pages, in the input's order (empty ranges dropped): the
 * units that the paused scan's threads claim one at a time.
 */
export function chunkRanges(ranges: readonly PageRange[], size: number): PageRange[] {
  const step = Math.max(1, Math.floor(size));
  const chunks: PageRange[] = [];
  for (const [start, end] of ranges) {
    for (let from = start; from < end; from += step) chunks.push([from, Math.min(end, from + step)]);
  }
  return chunks;
}

/** Pages in `ranges`; a page in two overlapping ranges counts twice (merge first when that matters). */
export function countPages(ranges: readonly PageRange[]): number {
  return ranges.reduce((sum, [start, end]) => sum + Math.max(0, end - start), 0);
}

/**
 * Builds ranges in normal form from pages or ranges met in ascending order of start, as a scan meets
 * them: each one joins the last range when they touch or overlap. O(1) per call, one array per range.
 */
export class RangeCollector {
  readonly #ranges: PageRange[] = [];
  #start = 0;
  #end = 0;

  /** Adds `[start, end)` (default: the one page `start`); an empty range adds nothing. */
  add(start: number, end = start + 1): void {
    if (end <= start) return;
    if (this.#end > this.#start) {
      if (start < this.#start) throw new RangeError(`page ranges must come in ascending order: ${start} after ${this.#start}`);
      if (start <= this.#end) {
        this.#end = Math.max(this.#end, end);
        return;
      }
      this.#ranges.push([this.#start, this.#end]);
    }
    this.#start = start;
    this.#end = end;
  }

  /** The ranges collected; the collector is empty again after. */
  done(): PageRange[] {
    if (this.#end > this.#start) this.#ranges.push([this.#start, this.#end]);
    this.#start = this.#end = 0;
    return this.#ranges.splice(0);
  }
}
