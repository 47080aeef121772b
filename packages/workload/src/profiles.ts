/**
 * Dirtying profiles modelled on CloudNet's workloads. Each plans positioned writes that touch exactly the
 * number of pages the pacer grants; what differs is where they land and how much of a page they change,
 * which is what decides how well XOR deltas and the stop policies do:
 * - web (TPC-W): a hot ~10% of pages takes most writes, each a few tens of bytes; some cold pages.
 * - compile (kernel build): sequential runs of whole pages rewritten with new text or binary content.
 * - jvm (SPECjbb): 8-64 bytes of counters/pointers changed in place across half the image.
 * Pure: randomness from an Rng, no I/O.
 */
import { fillKind, type TextCorpus } from './content.js';
import type { Rng } from './prng.js';

export const PROFILES = ['web', 'compile', 'jvm'] as const;
export type ProfileName = (typeof PROFILES)[number];

export function isProfileName(name: string): name is ProfileName {
  return (PROFILES as readonly string[]).includes(name);
}

/** One pwrite; `pages` is how many pages it touches, which is what the pacer counts. */
export interface WriteOp {
  readonly position: number;
  readonly data: Uint8Array;
  readonly pages: number;
}

export interface Planner {
  /** Writes touching exactly `pages` pages, all inside [0, pageCount * pageSize). */
  plan(pages: number): WriteOp[];
}

export interface PlannerContext {
  readonly rng: Rng;
  readonly corpus: TextCorpus;
  readonly pageCount: number;
  readonly pageSize: number;
}

export function createPlanner(name: ProfileName, context: PlannerContext): Planner {
  switch (name) {
    case 'web': return webPlanner(context);
    case 'compile': return compilePlanner(context);
    case 'jvm': return jvmPlanner(context);
  }
}

/** Repeats `one` for each page: profiles whose writes touch a single page each. */
function perPage(one: () => WriteOp): Planner {
  return { plan: (pages) => Array.from({ length: pages }, one) };
}

const HOT_RANGES = 8;

function webPlanner({ rng, corpus, pageCount, pageSize }: PlannerContext): Planner {
  // The hot set is a few ranges (tables, indexes, session cache), not scattered pages.
  const rangePages = Math.max(1, Math.floor((pageCount * 0.1) / HOT_RANGES));
  const starts = Array.from({ length: HOT_RANGES }, () => rng.int(pageCount - rangePages + 1));
  return perPage(() => {
    const hot = rng.float() < 0.9;
    const page = hot ? (starts[rng.int(HOT_RANGES)] ?? 0) + rng.int(rangePages) : rng.int(pageCount);
    if (!hot && rng.float() < 0.2) {
      // A cold page read in from disk: all of it changes.
      const data = new Uint8Array(pageSize);
      fillKind(rng, corpus, 'text', data);
      return { position: page * pageSize, data, pages: 1 };
    }
    const data = new Uint8Array(rng.between(16, 96));
    fillKind(rng, corpus, 'text', data);
    const offset = rng.int(pageSize - data.length + 1);
    return { position: page * pageSize + offset, data, pages: 1 };
  });
}

/** Larger writes cost one allocation each; past this they gain nothing. */
const MAX_OP_PAGES = 64;

function compilePlanner({ rng, corpus, pageCount, pageSize }: PlannerContext): Planner {
  let cursor = 0;
  let runLeft = 0;
  return {
    plan(pages) {
      const ops: WriteOp[] = [];
      let left = pages;
      while (left > 0) {
        if (runLeft === 0) {
          cursor = rng.int(pageCount);
          runLeft = Math.min(rng.runLength(128), pageCount - cursor);
        }
        const count = Math.min(left, runLeft, MAX_OP_PAGES);
        const data = new Uint8Array(count * pageSize);
        // Object files and sources: about half binary, half text.
        fillKind(rng, corpus, rng.float() < 0.5 ? 'text' : 'random', data);
        ops.push({ position: cursor * pageSize, data, pages: count });
        cursor += count;
        runLeft -= count;
        left -= count;
      }
      return ops;
    },
  };
}

const WORD = 8;

function jvmPlanner({ rng, pageCount, pageSize }: PlannerContext): Planner {
  const heapPages = Math.max(1, Math.floor(pageCount / 2));
  const heapStart = rng.int(pageCount - heapPages + 1);
  // Young generation: a window where allocation happens, moving through the heap over time.
  const youngPages = Math.max(1, Math.floor(heapPages / 8));
  let youngStart = 0;
  let touches = 0;
  return perPage(() => {
    touches += 1;
    if (touches % (youngPages * 4) === 0) youngStart = (youngStart + Math.ceil(youngPages / 2)) % heapPages;
    const inHeap = rng.float() < 0.7 ? (youngStart + rng.int(youngPages)) % heapPages : rng.int(heapPages);
    const words = rng.between(1, 8);
    const data = new Uint8Array(words * WORD);
    const view = new DataView(data.buffer);
    for (let i = 0; i < words; i += 1) {
      // Half counters (small integers), half pointers into a 47-bit address space.
      const pointer = rng.float() < 0.5;
      view.setUint32(i * WORD, pointer ? rng.u32() & ~7 : rng.int(1 << 16), true);
      view.setUint32(i * WORD + 4, pointer ? 0x7f00 + rng.int(256) : 0, true);
    }
    const offset = rng.int(pageSize / WORD - words + 1) * WORD;
    return { position: (heapStart + inHeap) * pageSize + offset, data, pages: 1 };
  });
}
