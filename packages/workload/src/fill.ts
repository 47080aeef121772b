/**
 * fillImage: a realistic memory image on disk. The file is truncated to its size first so zero pages stay
 * holes (the migration must never send them and the target must keep its copy sparse), then the non-zero
 * runs are generated into one large buffer and written with positioned writes, one per run.
 */
import { open } from 'node:fs/promises';
import { buildCorpus, fillKind, kindRuns, type PageKind } from './content.js';
import { Rng } from './prng.js';

export interface FillStats {
  readonly pageCount: number;
  readonly zeroPages: number;
  readonly textPages: number;
  readonly randomPages: number;
}

export interface FillOptions {
  readonly seed?: number;
  readonly pageSize?: number;
}

export const DEFAULT_PAGE_SIZE = 4096;
export const DEFAULT_SEED = 1;

/** Generation runs ahead of the disk by this much; big enough that the per-write cost vanishes. */
const BATCH_BYTES = 16 * 1024 * 1024;

/** Throws RangeError unless the size is a whole number of pages and the page size is sane. */
export function checkGeometry(size: number, pageSize: number): number {
  if (!Number.isInteger(pageSize) || pageSize < 512 || pageSize > 1 << 20 || (pageSize & (pageSize - 1)) !== 0) {
    throw new RangeError(`page size ${pageSize} must be a power of two between 512 and 1 MiB`);
  }
  if (!Number.isSafeInteger(size) || size <= 0 || size % pageSize !== 0) {
    throw new RangeError(`image size ${size} must be a positive multiple of the page size ${pageSize}`);
  }
  return size / pageSize;
}

interface Segment {
  readonly offset: number;
  readonly length: number;
  readonly position: number;
}

/** Creates or truncates `path` to `size` bytes and fills it deterministically for the seed. */
export async function fillImage(path: string, size: number, options: FillOptions = {}): Promise<FillStats> {
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const pageCount = checkGeometry(size, pageSize);
  const rng = new Rng(options.seed ?? DEFAULT_SEED);
  const corpus = buildCorpus(rng);
  const counts: Record<PageKind, number> = { zero: 0, text: 0, random: 0 };
  const batchBytes = Math.max(BATCH_BYTES - (BATCH_BYTES % pageSize), pageSize);
  const batch = Buffer.allocUnsafeSlow(batchBytes);
  let segments: Segment[] = [];
  let used = 0;

  const file = await open(path, 'w');
  try {
    // Truncating to 0 first ('w') drops any old blocks, so every page we skip really is a hole.
    await file.truncate(size);
    const flush = async (): Promise<void> => {
      await Promise.all(segments.map((s) => file.write(batch, s.offset, s.length, s.position)));
      segments = [];
      used = 0;
    };
    let page = 0;
    for (const run of kindRuns(rng, pageCount)) {
      counts[run.kind] += run.pages;
      if (run.kind !== 'zero') {
        // Split a run that does not fit the batch; kinds stay contiguous either way.
        let left = run.pages;
        while (left > 0) {
          if (used === batchBytes) await flush();
          const pages = Math.min(left, (batchBytes - used) / pageSize);
          const length = pages * pageSize;
          fillKind(rng, corpus, run.kind, batch.subarray(used, used + length));
          segments.push({ offset: used, length, position: (page + run.pages - left) * pageSize });
          used += length;
          left -= pages;
        }
      }
      page += run.pages;
    }
    await flush();
  } finally {
    await file.close();
  }
  return { pageCount, zeroPages: counts.zero, textPages: counts.text, randomPages: counts.random };
}
