import { PageEncoding, RECORD_HEADER_BYTES } from '@ferry/protocol';
import { xorInto } from './bytes.js';
import { ContentIndex } from './content-index.js';
import type { DeltaCache } from './delta-cache.js';
import { lz4Compress } from './lz4.js';

export interface BatchStats {
  zero: number;
  raw: number;
  lz4: number;
  delta: number;
  copy: number;
  /** Record bytes (headers and payloads) in the batch. */
  payloadBytes: number;
  /** Pages hashed since the previous batch of this worker, dirty or not: drives progress bars. */
  scanned: number;
}

export const emptyStats = (): BatchStats => ({ zero: 0, raw: 0, lz4: 0, delta: 0, copy: 0, payloadBytes: 0, scanned: 0 });

export interface EncoderState {
  readonly pageSize: number;
  readonly zeroHash: bigint;
  /** What the target holds, per page (shared with the main thread). */
  readonly sentHashes: BigUint64Array;
  readonly cache: DeltaCache | undefined;
  readonly index: ContentIndex | undefined;
  /** Scratch for `looksIncompressible`. */
  readonly sampler: ByteSampler;
}

/** Per-thread scratch for the byte sampler: stamps instead of clearing a histogram for every page. */
export interface ByteSampler {
  readonly stamps: Uint32Array;
  generation: number;
}

export const newSampler = (): ByteSampler => ({ stamps: new Uint32Array(256), generation: 0 });

const SAMPLES = 256;
/** Uniformly random bytes show ~162 (+-5) distinct values in 256 samples; text and most heap data far fewer. */
const RANDOM_DISTINCT = 128;

/**
 * LZ4 over an incompressible page costs as much as over a good one, and random-looking memory (encrypted,
 * compressed, media) is common. Counting distinct values in 256 sampled bytes is ~50x cheaper than the
 * attempt and tells random data from text, code and heap data well enough to skip it.
 */
export function looksIncompressible(sampler: ByteSampler, bytes: Uint8Array): boolean {
  const stamp = ++sampler.generation;
  const stride = Math.max(1, Math.floor(bytes.length / SAMPLES));
  let distinct = 0;
  for (let i = 0; i < bytes.length; i += stride) {
    const value = bytes[i]!;
    if (sampler.stamps[value] !== stamp) {
      sampler.stamps[value] = stamp;
      if (++distinct > RANDOM_DISTINCT) return true;
    }
  }
  return false;
}

export interface EncodeChoice {
  /** LZ4 the page when it saves bytes: worth it only while the link is slower than the compressor. */
  readonly compress: boolean;
  /** Verify re-sends: the target's copy is suspect, so no delta and no COPY. */
  readonly force: boolean;
  /**
   * Keep a copy of the page for later deltas. Pass 0 of a fast link leaves it off: first-touching 4 KiB of
   * cache per page would make the bulk pass the bottleneck (QEMU's XBZRLE also starts after the bulk stage).
   */
  readonly fillCache: boolean;
}

/**
 * Appends the record for one dirty page to `out` at `offset` and returns the new offset. Choice order:
 * ZERO, COPY of an identical page the target holds, XOR delta against the last sent copy, LZ4, RAW.
 * `out` must have room for RECORD_HEADER_BYTES + pageSize. Updates what the target will hold.
 */
export function encodePage(
  state: EncoderState,
  choice: EncodeChoice,
  page: number,
  bytes: Uint8Array,
  hash: bigint,
  scratch: Uint8Array,
  out: Uint8Array,
  view: DataView,
  offset: number,
  stats: BatchStats,
): number {
  const { pageSize, cache, index } = state;
  let encoding: PageEncoding = PageEncoding.Raw;
  let payload: Uint8Array = bytes;
  if (hash === state.zeroHash) {
    encoding = PageEncoding.Zero;
    payload = EMPTY;
  } else {
    const from = choice.force || !index ? -1 : index.lookup(hash);
    if (from >= 0 && from !== page && state.sentHashes[from] === hash) {
      encoding = PageEncoding.Copy;
      view.setUint32(offset + RECORD_HEADER_BYTES, from, true);
      payload = COPY_PLACEHOLDER;
    } else {
      const previous = choice.force ? undefined : cache?.get(page);
      if (previous) {
        xorInto(scratch, previous, bytes);
        const delta = lz4Compress(scratch);
        if (delta.length < pageSize) {
          encoding = PageEncoding.XorLz4;
          payload = delta;
        }
      }
      // A delta under half a page is as good as it gets; compressing the page too would waste time.
      if (choice.compress && payload.length >= pageSize / 2 && !looksIncompressible(state.sampler, bytes)) {
        const compressed = lz4Compress(bytes);
        if (compressed.length < payload.length && compressed.length < pageSize) {
          encoding = PageEncoding.Lz4;
          payload = compressed;
        }
      }
    }
  }
  view.setUint32(offset, page, true);
  view.setUint8(offset + 4, encoding);
  view.setUint32(offset + 5, payload.length, true);
  if (encoding !== PageEncoding.Copy) out.set(payload, offset + RECORD_HEADER_BYTES);
  count(stats, encoding);
  stats.payloadBytes += RECORD_HEADER_BYTES + payload.length;

  if (encoding === PageEncoding.Zero) cache?.delete(page);
  else if (choice.fillCache) cache?.set(page, bytes, hash);
  else cache?.delete(page);
  if (encoding !== PageEncoding.Zero) index?.insert(hash, page);
  state.sentHashes[page] = hash;
  return offset + RECORD_HEADER_BYTES + payload.length;
}

const EMPTY = new Uint8Array(0);
const COPY_PLACEHOLDER = new Uint8Array(4);

function count(stats: BatchStats, encoding: PageEncoding): void {
  switch (encoding) {
    case PageEncoding.Zero: stats.zero++; break;
    case PageEncoding.Raw: stats.raw++; break;
    case PageEncoding.Lz4: stats.lz4++; break;
    case PageEncoding.XorLz4: stats.delta++; break;
    case PageEncoding.Copy: stats.copy++; break;
    default: break;
  }
}
