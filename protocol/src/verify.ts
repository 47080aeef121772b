import { MessageType } from './constants.js';
import { malformed } from './errors.js';
import { asBin, asFields, bool, bytes, digest, list, uint, type Fields } from './fields.js';
import type { PageRange } from './ranges.js';

/**
 * Source -> target, after the final pass: the digest of the source's page-hash table for one image, and
 * the digests of its blocks of `blockPages` entries so that a mismatch can be narrowed to page ranges
 * without shipping the whole table.
 */
export interface Verify {
  readonly type: typeof MessageType.Verify;
  readonly image: number;
  readonly pageCount: number;
  readonly digest: string;
  readonly blockPages: number;
  /** ceil(pageCount / blockPages) u64 little-endian digests. */
  readonly blockDigests: Uint8Array;
}

/** Target -> source: `ok`, or the page ranges [start, end) whose blocks differ; the source re-sends them. */
export interface VerifyResult {
  readonly type: typeof MessageType.VerifyResult;
  readonly image: number;
  readonly ok: boolean;
  readonly mismatches: readonly PageRange[];
}

const U16 = 0xffff;
const U32 = 0xffff_ffff;
const MAX_BLOCK_DIGEST_BYTES = 4 * 1024 * 1024;
const MAX_MISMATCH_RANGES = 65536;

export const encodeVerify = (msg: Verify): Fields => ({
  image: msg.image,
  pageCount: msg.pageCount,
  digest: msg.digest,
  blockPages: msg.blockPages,
  blockDigests: asBin(msg.blockDigests),
});

export function decodeVerify(body: unknown): Verify {
  const what = 'VERIFY';
  const f = asFields(body, what);
  const pageCount = uint(f, 'pageCount', what, U32);
  const blockPages = uint(f, 'blockPages', what, U32);
  if (blockPages === 0) throw malformed(`${what}: blockPages must be at least 1`);
  const blockDigests = bytes(f, 'blockDigests', what, MAX_BLOCK_DIGEST_BYTES);
  const expected = Math.ceil(pageCount / blockPages) * 8;
  if (blockDigests.length !== expected) {
    throw malformed(`${what}: ${blockDigests.length} bytes of block digests, expected ${expected}`);
  }
  return {
    type: MessageType.Verify,
    image: uint(f, 'image', what, U16),
    pageCount,
    digest: digest(f, 'digest', what),
    blockPages,
    blockDigests,
  };
}

export const encodeVerifyResult = (msg: VerifyResult): Fields => ({
  image: msg.image,
  ok: msg.ok,
  mismatches: msg.mismatches.map(([start, end]) => [start, end]),
});

export function decodeVerifyResult(body: unknown): VerifyResult {
  const what = 'VERIFY_RESULT';
  const f = asFields(body, what);
  const mismatches = list(f, 'mismatches', what, MAX_MISMATCH_RANGES).map((range) => {
    if (!Array.isArray(range) || range.length !== 2) throw malformed(`${what}: a mismatch must be [start, end]`);
    const [start, end] = range as unknown[];
    if (!isU32(start) || !isU32(end) || end <= start) throw malformed(`${what}: bad mismatch range ${JSON.stringify(range)}`);
    return [start, end] satisfies PageRange;
  });
  return { type: MessageType.VerifyResult, image: uint(f, 'image', what, U16), ok: bool(f, 'ok', what), mismatches };
}

const isU32 = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= U32;
