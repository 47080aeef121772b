import { PageEncoding, RECORD_HEADER_BYTES, writeCopyRecord, writeRecord } from '@ferry/protocol';
import { xorInto } from './bytes.js';
import type { ContentIndex } from './content-index.js';
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
  /** The same record bytes by encoding: what each encoding cost on the wire. */
  zeroBytes: number;
  rawBytes: number;
  lz4Bytes: number;
  deltaBytes: number;
  copyBytes: number;
  /** Pages hashed since the previous batch of this worker, dirty or not: drives progress bars. */
  scanned: number;
}

export const emptyStats = (): BatchStats => ({ zero: 0, raw: 0, lz4: 0, delta: 0, copy: 0, payloadBytes: 0, zeroBytes: 0, rawBytes: 0, lz4Bytes: 0, deltaBytes: 0, copyBytes: 0, scanned: 0 });

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

/** What the encoder reads and keeps up to date: one worker's view of the image and of the target. */
export interface EncoderTables {
  readonly pageSize: number;
  readonly zeroHash: bigint;
  /** What the target holds, per page (shared with the main thread). */
  readonly targetHashes: BigUint64Array;
  readonly cache: DeltaCache | undefined;
  readonly index: ContentIndex | undefined;
}

/**
 * A PAGES message being filled in place: the batch buffer, where the next record goes, and its counts.
 * Its first `headerBytes` are left for the PAGES header, which the sender writes.
 */
export class RecordBatch {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  offset: number;
  count = 0;
  readonly stats: BatchStats = emptyStats();

  constructor(bytes: Uint8Array, headerBytes: number) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    this.offset = headerBytes;
  }

  /** Whether one more record of any encoding fits (RAW is the largest: a whole page). */
  hasRoomForPage(pageSize: number): boolean {
    return this.offset + RECORD_HEADER_BYTES + pageSize <= this.bytes.length;
  }

  /** The message so far: header room and records. */
  get message(): Uint8Array {
    return this.bytes.subarray(0, this.offset);
  }
}

/**
 * Chooses the encoding of each dirty page and appends its record to a batch. Choice order: ZERO, COPY of
 * an identical page the target holds, XOR delta against the last sent copy, LZ4, RAW. Keeps what the
 * target will hold (`targetHashes`), the delta cache and the COPY index up to date. The record layout
 * itself is protocol's (`writeRecord`, `writeCopyRecord`).
 */
export class PageEncoder {
  readonly #tables: EncoderTables;
  readonly #scratch: Uint8Array;
  readonly #sampler = newSampler();

  constructor(tables: EncoderTables) {
    this.#tables = tables;
    this.#scratch = new Uint8Array(tables.pageSize);
  }

  /** Appends the record of `page` (content `bytes`, hash `hash`); the batch must have room for a page. */
  encode(batch: RecordBatch, page: number, bytes: Uint8Array, hash: bigint, choice: EncodeChoice): void {
    const { cache, index, targetHashes } = this.#tables;
    const before = batch.offset;
    let encoding: PageEncoding;
    if (hash === this.#tables.zeroHash) {
      encoding = PageEncoding.Zero;
      batch.offset = writeRecord(batch.bytes, batch.view, batch.offset, { pageIndex: page, encoding, payload: EMPTY });
    } else {
      const from = choice.force || !index ? -1 : index.lookup(hash);
      if (from >= 0 && from !== page && targetHashes[from] === hash) {
        encoding = PageEncoding.Copy;
        batch.offset = writeCopyRecord(batch.view, batch.offset, page, from);
      } else {
        const [chosen, payload] = this.#compact(page, bytes, choice);
        encoding = chosen;
        batch.offset = writeRecord(batch.bytes, batch.view, batch.offset, { pageIndex: page, encoding, payload });
      }
    }
    batch.count++;
    count(batch.stats, encoding, batch.offset - before);
    batch.stats.payloadBytes += batch.offset - before;

    if (encoding !== PageEncoding.Zero && choice.fillCache) cache?.set(page, bytes, hash);
    else cache?.delete(page);
    if (encoding !== PageEncoding.Zero) index?.insert(hash, page);
    targetHashes[page] = hash;
  }

  /** The smallest of XOR delta, LZ4 and RAW for a page with no identical twin at the target. */
  #compact(page: number, bytes: Uint8Array, choice: EncodeChoice): [PageEncoding, Uint8Array] {
    const { pageSize, cache } = this.#tables;
    let encoding: PageEncoding = PageEncoding.Raw;
    let payload = bytes;
    const previous = choice.force ? undefined : cache?.get(page);
    if (previous) {
      xorInto(this.#scratch, previous, bytes);
      const delta = lz4Compress(this.#scratch);
      if (delta.length < pageSize) {
        encoding = PageEncoding.XorLz4;
        payload = delta;
      }
    }
    // A delta under half a page is as good as it gets; compressing the page too would waste time.
    if (choice.compress && payload.length >= pageSize / 2 && !looksIncompressible(this.#sampler, bytes)) {
      const compressed = lz4Compress(bytes);
      if (compressed.length < payload.length && compressed.length < pageSize) {
        encoding = PageEncoding.Lz4;
        payload = compressed;
      }
    }
    return [encoding, payload];
  }
}

const EMPTY = new Uint8Array(0);

function count(stats: BatchStats, encoding: PageEncoding, recordBytes: number): void {
  switch (encoding) {
    case PageEncoding.Zero: stats.zero++; stats.zeroBytes += recordBytes; break;
    case PageEncoding.Raw: stats.raw++; stats.rawBytes += recordBytes; break;
    case PageEncoding.Lz4: stats.lz4++; stats.lz4Bytes += recordBytes; break;
    case PageEncoding.XorLz4: stats.delta++; stats.deltaBytes += recordBytes; break;
    case PageEncoding.Copy: stats.copy++; stats.copyBytes += recordBytes; break;
    default: break;
  }
}
