/** The paused scan: every thread hashes a share, the owning workers encode only the dirty pages. */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePageRecords, PageEncoding, writePagesHeader } from '@ferry/protocol';
import { clip, ImageFile, mergeRanges, ScanPool, splitRanges } from '@ferry/pages';

const PAGE = 4096;

t.test('splitRanges, mergeRanges and clip', async (t) => {
  t.same(splitRanges([[0, 10]], 3), [[[0, 4]], [[4, 8]], [[8, 10]]]);
  t.same(splitRanges([[0, 3], [10, 15]], 2), [[[0, 3], [10, 11]], [[11, 15]]], 'shares cross range boundaries');
  t.same(splitRanges([[0, 2]], 4), [[[0, 1]], [[1, 2]]], 'never an empty share');
  t.same(splitRanges([], 4), []);
  const parts = splitRanges([[5, 1000], [2000, 2001]], 7);
  t.equal(parts.flat().reduce((n, [a, b]) => n + b - a, 0), 996, 'the shares cover every page once');
  t.same(mergeRanges([[8, 9], [1, 3], [3, 4], [9, 12], [2, 3]]), [[1, 4], [8, 12]]);
  t.same(clip([[0, 5], [8, 20]], 4, 10), [[4, 5], [8, 10]]);
});

t.test('an everyCore scan sends exactly what a plain scan sends, hashed by every thread', async (t) => {
  const dir = mkdtempSync('/dev/shm/ferry-every-core-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const PAGES = 300;
  const path = join(dir, 'ram');
  writeFileSync(path, randomBytes(PAGES * PAGE));
  const pool = await ScanPool.start({ imagePath: path, pageSize: PAGE, workers: 2, pausedThreads: 4, deltaCacheBytes: 1 << 20, delta: true, compress: 'never' });
  t.teardown(() => pool.close());
  t.equal(pool.pausedThreads, 4, 'two workers and two hash-only helpers');
  const scan = async (pass: number, everyCore: boolean) => {
    const pages: Array<[number, number]> = [];
    const stats = await pool.scan(pass, async (batch) => {
      writePagesHeader(batch.message, 0, { imageIndex: 0, pass, count: batch.count });
      for (const r of decodePageRecords(batch.message, { pageCount: PAGES, pageSize: PAGE })) pages.push([r.pageIndex, r.encoding]);
      batch.release();
    }, { everyCore });
    return { pages: pages.sort((a, b) => a[0] - b[0]), stats };
  };
  const first = await scan(0, true);
  t.equal(first.pages.length, PAGES, 'pass 0: every page');
  t.match(first.stats, { pagesScanned: PAGES, dirtyPages: PAGES });
  t.same((await scan(1, true)).pages, [], 'nothing changed, nothing sent');

  const writer = ImageFile.openWrite(path, PAGE);
  t.teardown(() => writer.close());
  for (const page of [0, 1, 2, 74, 75, 150, 151, 299]) writer.writePage(page, randomBytes(PAGE));
  writer.writePage(200, new Uint8Array(PAGE));
  const paused = await scan(2, true);
  t.same(paused.pages.map(([p]) => p), [0, 1, 2, 74, 75, 150, 151, 200, 299], 'exactly the changed pages, across every share');
  t.equal(paused.pages.find(([p]) => p === 200)![1], PageEncoding.Zero);
  t.match(paused.stats, { pagesScanned: PAGES, dirtyPages: 9 });
  writer.writePage(3, randomBytes(PAGE));
  t.same((await scan(3, false)).pages.map(([p]) => p), [3], 'a plain scan afterwards agrees on what the target holds');
});
