/**
 * What the kernel says about a process's memory, parsed without I/O: /proc/PID/maps lines, the state
 * letter of /proc/PID/stat, and /proc/PID/pagemap entries (kernel doc admin-guide/mm/pagemap.rst):
 * one little-endian u64 per virtual page, bit 63 present, bit 62 swapped, bit 55 soft-dirty.
 */
import { RangeCollector, type PageRange } from '@ferry/protocol';

export const PAGEMAP_ENTRY_BYTES = 8;
// The flags live in the high 32 bits of an entry: reading only those keeps a 2 GiB mapping's 512 Ki
// entries cheap (BigInt per entry would dominate the final pass).
const SOFT_DIRTY_HIGH = 1 << 23; // bit 55
const MAPPED_HIGH = (1 << 30) | (1 << 31); // bit 62 swapped, bit 63 present
const highWord = (view: DataView, entry: number): number => view.getUint32(entry * PAGEMAP_ENTRY_BYTES + 4, true);

/** One line of /proc/PID/maps. */
export interface MappedRegion {
  readonly start: number;
  readonly end: number;
  readonly perms: string;
  /** Byte offset in the file of `start`. */
  readonly offset: number;
  readonly major: number;
  readonly minor: number;
  readonly inode: number;
  readonly path: string;
}

const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+):([0-9a-f]+) (\d+)\s*(.*)$/;

export function parseMaps(text: string): MappedRegion[] {
  const regions: MappedRegion[] = [];
  for (const line of text.split('\n')) {
    const m = MAPS_LINE.exec(line);
    if (!m) continue;
    regions.push({
      start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), perms: m[3]!, offset: parseInt(m[4]!, 16),
      major: parseInt(m[5]!, 16), minor: parseInt(m[6]!, 16), inode: Number(m[7]), path: m[8]!,
    });
  }
  return regions;
}

/** Linux's dev_t as stat() returns it, split as /proc/PID/maps prints it. */
export function splitDev(dev: number): { major: number; minor: number } {
  const big = BigInt(dev);
  return {
    major: Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn)),
    minor: Number((big & 0xffn) | ((big >> 12n) & ~0xffn)),
  };
}

/** The regions that map the file (device and inode) shared, so that writes through them reach it. */
export function regionsOfFile(regions: readonly MappedRegion[], file: { readonly dev: number; readonly ino: number }): MappedRegion[] {
  const { major, minor } = splitDev(file.dev);
  return regions.filter((r) => r.inode === file.ino && r.major === major && r.minor === minor && r.perms[3] === 's');
}

/** A stable text of the regions, to tell whether the mapping changed between two reads. */
export const regionsKey = (regions: readonly MappedRegion[]): string =>
  regions.map((r) => `${r.start.toString(16)}-${r.end.toString(16)}@${r.offset.toString(16)}${r.perms}`).join(',');

/** The part of the image a region maps, in image pages, and where its first page's pagemap entry is. */
export interface RegionWindow {
  readonly firstPage: number;
  readonly endPage: number;
  /** Byte offset in /proc/PID/pagemap of the entry of the region's first whole image page. */
  readonly pagemapOffset: number;
}

/**
 * The whole image pages a region covers (a page partly outside it is not covered: its other part may
 * be written elsewhere), clipped to the image.
 */
export function regionWindow(region: MappedRegion, imageBytes: number, pageSize: number, systemPageSize: number): RegionWindow | undefined {
  const fileEnd = Math.min(imageBytes, region.offset + (region.end - region.start));
  const firstPage = Math.ceil(region.offset / pageSize);
  const endPage = Math.floor(fileEnd / pageSize);
  if (endPage <= firstPage) return undefined;
  const address = region.start + (firstPage * pageSize - region.offset);
  return { firstPage, endPage, pagemapOffset: (address / systemPageSize) * PAGEMAP_ENTRY_BYTES };
}

/** What one read of a window's pagemap entries says, per image page. */
export interface WindowReading {
  /** Image pages with a soft-dirty bit on any of their system pages. */
  readonly dirty: PageRange[];
  /** Per image page of the window: 1 when every system page of it is present or swapped (mapped). */
  readonly mapped: Uint8Array;
}

/** Reads `entries` (the window's pagemap bytes): `perPage` system pages make one image page. */
export function readWindow(entries: Uint8Array, window: RegionWindow, perPage: number): WindowReading {
  const view = new DataView(entries.buffer, entries.byteOffset, entries.byteLength);
  const pages = window.endPage - window.firstPage;
  const mapped = new Uint8Array(pages);
  const dirty = new RangeCollector();
  for (let page = 0; page < pages; page++) {
    let isDirty = false;
    let isMapped = true;
    for (let sub = 0; sub < perPage; sub++) {
      const high = highWord(view, page * perPage + sub);
      if ((high & SOFT_DIRTY_HIGH) !== 0) isDirty = true;
      if ((high & MAPPED_HIGH) === 0) isMapped = false;
    }
    mapped[page] = isMapped ? 1 : 0;
    if (isDirty) dirty.add(window.firstPage + page);
  }
  return { dirty: dirty.done(), mapped };
}

/** Pages of the window that were mapped at the last reading and are not now: their marks went with them. */
export function unmappedSince(before: Uint8Array | undefined, now: Uint8Array, firstPage: number): PageRange[] {
  if (!before || before.length !== now.length) return [];
  const lost = new RangeCollector();
  for (let page = 0; page < now.length; page++) {
    if (before[page] === 1 && now[page] !== 1) lost.add(firstPage + page);
  }
  return lost.done();
}

/** Image pages no window covers: writes to them cannot be seen, so every pass reads them. */
export function uncovered(windows: readonly RegionWindow[], pageCount: number): PageRange[] {
  const sorted = [...windows].sort((a, b) => a.firstPage - b.firstPage);
  const gaps: PageRange[] = [];
  let next = 0;
  for (const w of sorted) {
    if (w.firstPage > next) gaps.push([next, w.firstPage]);
    next = Math.max(next, w.endPage);
  }
  if (next < pageCount) gaps.push([next, pageCount]);
  return gaps;
}

/** The state letter and start time (clock ticks since boot) of /proc/PID/stat; the command may hold spaces and parentheses. */
export function parseStat(text: string): { state: string; startTime: string } | undefined {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTime = fields[19];
  return state && startTime ? { state, startTime } : undefined;
}

/** Stopped by a signal (T) or a tracer (t), or gone (Z, X): either way it writes nothing. */
export const isStoppedState = (state: string): boolean => state === 'T' || state === 't' || state === 'Z' || state === 'X';

/** Whether a pagemap read shows any soft-dirty bit at all (the support probe). */
export function anySoftDirty(entries: Uint8Array): boolean {
  const view = new DataView(entries.buffer, entries.byteOffset, entries.byteLength);
  for (let entry = 0; entry < Math.floor(entries.byteLength / PAGEMAP_ENTRY_BYTES); entry++) {
    if ((highWord(view, entry) & SOFT_DIRTY_HIGH) !== 0) return true;
  }
  return false;
}
