/** Page ranges [start, end): what a scan covers. */
export type PageRange = readonly [number, number];

/** The parts of `ranges` inside [first, end). */
export function clip(ranges: readonly PageRange[], first: number, end: number): Array<[number, number]> {
  const clipped: Array<[number, number]> = [];
  for (const [start, stop] of ranges) {
    const a = Math.max(start, first);
    const b = Math.min(stop, end);
    if (a < b) clipped.push([a, b]);
  }
  return clipped;
}

/** Splits `ranges` into at most `parts` lists covering the same pages, in order, of near-equal page counts. */
export function splitRanges(ranges: readonly PageRange[], parts: number): Array<Array<[number, number]>> {
  const total = ranges.reduce((sum, [start, end]) => sum + Math.max(0, end - start), 0);
  const share = Math.ceil(total / Math.max(1, parts));
  const split: Array<Array<[number, number]>> = [];
  let current: Array<[number, number]> = [];
  let room = share;
  for (const [start, end] of ranges) {
    for (let from = start; from < end;) {
      const to = Math.min(end, from + room);
      current.push([from, to]);
      room -= to - from;
      from = to;
      if (room === 0) {
        split.push(current);
        current = [];
        room = share;
      }
    }
  }
  if (current.length > 0) split.push(current);
  return split;
}

/** Merges sorted page numbers' runs: adjacent or overlapping ranges become one. */
export function mergeRanges(ranges: readonly PageRange[]): Array<[number, number]> {
  const merged: Array<[number, number]> = [];
  for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0])) {
    const last = merged[merged.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}
