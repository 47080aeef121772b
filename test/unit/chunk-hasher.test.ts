/** Hashing in place: pages read straight into the hasher's memory hash exactly as xxh64 of their bytes. */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createChunkHasher, createPageHasher, ImageFile, zeroPageHash } from '@ferry/pages';

const PAGE = 4096;
const reference = await createPageHasher();

t.test('pages read into the chunk hash as hashPage hashes their bytes', async (t) => {
  const dir = mkdtempSync(join('/tmp', 'ferry-chunk-hasher-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pages = 300; // more than one chunk, and a last chunk that is not full
  const content = randomBytes(pages * PAGE);
  content.fill(0, 7 * PAGE, 8 * PAGE);
  writeFileSync(join(dir, 'ram'), content);
  const file = ImageFile.openRead(join(dir, 'ram'), PAGE);
  t.teardown(() => file.close());
  const chunkPages = 64;
  const hasher = await createChunkHasher(chunkPages * PAGE);
  t.equal(hasher.chunk.length, chunkPages * PAGE);
  for (let first = 0; first < pages; first += chunkPages) {
    const count = Math.min(chunkPages, pages - first);
    file.readPages(first, count, hasher.chunk);
    for (let k = 0; k < count; k++) {
      const page = first + k;
      const expected = reference.hashPage(content.subarray(page * PAGE, (page + 1) * PAGE));
      if (hasher.hashAt(k * PAGE, PAGE) !== expected) t.fail(`page ${page} hashed differently`);
    }
  }
  file.readPages(7, 1, hasher.chunk);
  t.equal(hasher.hashAt(0, PAGE), zeroPageHash(reference, PAGE), 'a zero page has the zero-page hash');
  t.ok(hasher.hashAt(0, PAGE) > 0n, 'hashes are unsigned, as hashPage returns them');
});

t.test('any span of the chunk, and nothing outside it', async (t) => {
  const hasher = await createChunkHasher(3 * PAGE);
  const bytes = randomBytes(3 * PAGE);
  hasher.chunk.set(bytes);
  for (const [offset, length] of [[0, 0], [1, 1], [3, 1000], [PAGE - 5, 37], [0, 3 * PAGE], [2 * PAGE, PAGE]] as const) {
    t.equal(hasher.hashAt(offset, length), reference.hashPage(bytes.subarray(offset, offset + length)), `[${offset}, +${length})`);
  }
  t.throws(() => hasher.hashAt(2 * PAGE + 1, PAGE), RangeError, 'past the end');
  t.throws(() => hasher.hashAt(-1, 4), RangeError, 'before the start');
});

t.test('each hasher has its own memory', async (t) => {
  const a = await createChunkHasher(PAGE);
  const b = await createChunkHasher(PAGE);
  a.chunk.set(randomBytes(PAGE));
  b.chunk.fill(0);
  t.not(a.hashAt(0, PAGE), b.hashAt(0, PAGE));
  t.equal(b.hashAt(0, PAGE), zeroPageHash(reference, PAGE), 'writing one chunk left the other as it was');
});
