import { countPages, digestToHex, ErrorCode, FerryError, mergeRanges, MessageType, type PageRange } from '@ferry/protocol';
import { blockDigests, tableDigest, type PageHasher, type ScanPool } from '@ferry/pages';
import type { TargetConnection } from './connection.js';
import type { PassScope } from './pass-sender.js';
import { VERIFY_BLOCK_PAGES } from './options.js';

export interface VerifyDeps {
  readonly connection: TargetConnection;
  readonly hasher: PageHasher;
  readonly pools: readonly ScanPool[];
  readonly imageNames: readonly string[];
  readonly replyTimeoutMs: number;
  readonly retries: number;
  readonly signal: AbortSignal;
  /** Re-sends the given ranges of one image in a new pass (RAW), before the image is verified again. */
  readonly resend: (scope: PassScope) => Promise<void>;
  readonly onResult: (image: string, ok: boolean, mismatchedPages: number) => void;
}

/**
 * End-to-end check: the source's table of what it sent against the target's table of what it wrote.
 * Every image's VERIFY goes out back to back and the results are read after (one round trip for all,
 * not one per image: the pause pays for each). Mismatching blocks are re-sent whole, and those images
 * verified again, up to `retries` times; after that the migration fails (and so rolls back) rather
 * than commit an image that is not the source's.
 */
export async function verifyImages(deps: VerifyDeps): Promise<void> {
  let pending = deps.pools.map((_pool, image) => image);
  for (let attempt = 0; pending.length > 0; attempt++) {
    for (const image of pending) await sendVerify(deps, image);
    const failed: Array<{ image: number; ranges: readonly PageRange[] }> = [];
    for (const image of pending) {
      const name = deps.imageNames[image] ?? String(image);
      const result = await deps.connection.expect([MessageType.VerifyResult], deps.replyTimeoutMs, `VERIFY of image ${name}`, deps.signal);
      if (result.image !== image) {
        throw new FerryError(ErrorCode.UnexpectedMessage, `the target answered VERIFY of image ${image} with a result for image ${result.image}`);
      }
      // The target's list may overlap: each page is counted, and re-sent, once.
      const mismatches = mergeRanges(result.mismatches);
      const mismatchedPages = countPages(mismatches);
      deps.onResult(name, result.ok, mismatchedPages);
      if (result.ok) continue;
      if (attempt >= deps.retries) {
        throw new FerryError(ErrorCode.Verify, `image ${name} still differs on the target after ${deps.retries} re-sends (${mismatchedPages} pages in ${mismatches.length} ranges)`);
      }
      failed.push({ image, ranges: mismatches });
    }
    for (const scope of failed) await deps.resend(scope);
    pending = failed.map((f) => f.image);
  }
}

async function sendVerify(deps: VerifyDeps, image: number): Promise<void> {
  const table = deps.pools[image]!.targetHashes;
  const blocks = blockDigests(deps.hasher, table, VERIFY_BLOCK_PAGES);
  await deps.connection.sendControl({
    type: MessageType.Verify,
    image,
    pageCount: table.length,
    digest: digestToHex(tableDigest(deps.hasher, table)),
    blockPages: VERIFY_BLOCK_PAGES,
    blockDigests: new Uint8Array(blocks.buffer, blocks.byteOffset, blocks.byteLength),
  });
}
