/**
 * Which dirty source each image gets (--dirty-log auto|soft-dirty|hash), decided from facts read once
 * before the migration starts: does this kernel keep soft-dirty bits (a real round trip, because on a
 * kernel without them writing clear_refs succeeds and bit 55 stays 0), which process writes the image,
 * and does that process map it. Every image either gets a soft-dirty tracker or a reason to be hashed.
 */
import { closeSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { DirtyTracker } from '../dirty-tracking.js';
import { ProcessStopper } from './freezer.js';
import { anySoftDirty, PAGEMAP_ENTRY_BYTES, parseMaps, regionsOfFile } from './proc.js';
import { readFully, SoftDirtyTracker } from './tracker.js';

export type DirtyLogMode = 'auto' | 'soft-dirty' | 'hash';
export const DIRTY_LOG_MODES: readonly DirtyLogMode[] = ['auto', 'soft-dirty', 'hash'];
export const isDirtyLogMode = (value: string): value is DirtyLogMode => (DIRTY_LOG_MODES as readonly string[]).includes(value);

/** The writer: a PID given by the user, or "whichever process maps the image" (a QEMU guest's RAM file). */
export type DirtyWriter = { readonly pid: number; readonly stopper?: ProcessStopper } | { readonly findMapper: true } | undefined;

export interface DirtyLogImage {
  readonly name: string;
  readonly path: string;
  readonly pageSize: number;
}

export type DirtyLogChoice =
  | { readonly method: 'soft-dirty'; readonly tracker: DirtyTracker; readonly reason: string }
  | { readonly method: 'hash'; readonly reason: string };

/** The support probe's verdict: undefined when soft-dirty works here, else why not. */
export interface SoftDirtySupport {
  readonly missing: string | undefined;
  readonly systemPageSize: number;
}

/**
 * Clears this process's own soft-dirty bits, writes to its stack (a private mapping), and reads the
 * stack's pagemap entries back: a kernel that keeps the bits shows at least one.
 */
export function probeSoftDirty(): SoftDirtySupport {
  const systemPageSize = kernelPageSize();
  try {
    writeFileSync('/proc/self/clear_refs', '4');
    touchStack(64);
    const stack = parseMaps(readFileSync('/proc/self/maps', 'utf8')).find((r) => r.path === '[stack]');
    if (!stack) return { missing: 'this process has no [stack] mapping to probe', systemPageSize };
    const entries = new Uint8Array(((stack.end - stack.start) / systemPageSize) * PAGEMAP_ENTRY_BYTES);
    const fd = openSync('/proc/self/pagemap', 'r');
    try {
      readFully(fd, entries, (stack.start / systemPageSize) * PAGEMAP_ENTRY_BYTES);
    } finally {
      closeSync(fd);
    }
    if (anySoftDirty(entries)) return { missing: undefined, systemPageSize };
    return { missing: 'this kernel keeps no soft-dirty bits (CONFIG_MEM_SOFT_DIRTY): a page written after clear_refs showed no bit 55', systemPageSize };
  } catch (error) {
    return { missing: `the soft-dirty probe failed: ${error instanceof Error ? error.message : String(error)}`, systemPageSize };
  }
}

/** Decides every image's dirty source; `support` is probed only when some image could use soft-dirty. */
export function chooseDirtyLogs(
  mode: DirtyLogMode,
  images: readonly DirtyLogImage[],
  writer: DirtyWriter,
  probe: () => SoftDirtySupport = probeSoftDirty,
  onFallback?: (image: string, reason: string) => void,
): Map<string, DirtyLogChoice> {
  const choices = new Map<string, DirtyLogChoice>();
  const hashAll = (reason: string): Map<string, DirtyLogChoice> => {
    for (const image of images) choices.set(image.name, { method: 'hash', reason });
    return choices;
  };
  if (mode === 'hash') return hashAll('--dirty-log hash');
  if (writer === undefined) return hashAll('no --dirty-pid or --qmp names the process that writes the image');
  const support = probe();
  if (support.missing !== undefined) return hashAll(support.missing);
  for (const image of images) {
    choices.set(image.name, chooseOne(image, writer, support.systemPageSize, onFallback));
  }
  return choices;
}

function chooseOne(image: DirtyLogImage, writer: NonNullable<DirtyWriter>, systemPageSize: number, onFallback?: (image: string, reason: string) => void): DirtyLogChoice {
  if (image.pageSize % systemPageSize !== 0) return { method: 'hash', reason: `the page size ${image.pageSize} is not a multiple of the kernel's ${systemPageSize}` };
  const stat = statSync(image.path);
  const file = { dev: stat.dev, ino: stat.ino };
  const mappers = processesMapping(file);
  let pid: number;
  if ('pid' in writer) {
    if (!mappers.includes(writer.pid)) return { method: 'hash', reason: `pid ${writer.pid} does not map ${image.path} shared (see /proc/${writer.pid}/maps)` };
    pid = writer.pid;
  } else {
    if (mappers.length === 0) return { method: 'hash', reason: `no process maps ${image.path} shared` };
    pid = mappers[0]!;
  }
  const others = mappers.filter((p) => p !== pid);
  if (others.length > 0) return { method: 'hash', reason: `${image.path} is also mapped by pid ${others.join(', ')}, whose writes pid ${pid}'s log would not show` };
  const stopper = 'pid' in writer && writer.stopper ? writer.stopper : new ProcessStopper(pid);
  const reason = `the kernel keeps soft-dirty bits and pid ${pid} maps ${image.path}; writes through that mapping are logged, write() calls to the file are not`;
  const tracker = new SoftDirtyTracker({
    image: { name: image.name, size: stat.size, pageSize: image.pageSize, dev: stat.dev, ino: stat.ino },
    stopper, systemPageSize, reason,
    onFallback: (why) => onFallback?.(image.name, why),
  });
  return { method: 'soft-dirty', tracker, reason };
}

/** Every process (but this one) that maps the file shared, as far as /proc lets this user see. */
export function processesMapping(file: { readonly dev: number; readonly ino: number }): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let maps: string;
    try {
      maps = readFileSync(`/proc/${entry}/maps`, 'utf8');
    } catch {
      continue; // gone, or another user's
    }
    if (regionsOfFile(parseMaps(maps), file).length > 0) pids.push(Number(entry));
  }
  return pids.sort((a, b) => a - b);
}

/** The kernel's page size, from this process's first mapping in /proc/self/smaps (4096 when it says nothing). */
function kernelPageSize(): number {
  try {
    const match = /KernelPageSize:\s+(\d+) kB/.exec(readFileSync('/proc/self/smaps', 'utf8'));
    return match ? Number(match[1]) * 1024 : 4096;
  } catch {
    return 4096;
  }
}

/** Writes to `depth` stack frames, so that the stack's pages are dirty after the clear. */
function touchStack(depth: number): number {
  const frame = new Array<number>(16).fill(depth);
  return depth === 0 ? frame.length : touchStack(depth - 1) + (frame[0] ?? 0);
}
