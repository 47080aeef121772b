/** The paused scan: every thread hashes a share, the owning workers encode only the dirty pages. */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePageRecords, PageEncoding, writePagesHeader } from '@ferry/protocol';
import { ImageFile, ScanPool, type ScanScope } from '@ferry/pages';

const PAGE = 4096;

t.test('an everyCore scan sends exactly what a plain scan sends, hashed by every thread', async (t) => {
  const dir = mkdtempSync('/dev/shm/ferry-every-core-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const PAGES = 300;
  const path = join(dir, 'ram');
  writeFileSync(path, randomBytes(PAGES * PAGE));
  const pool = await ScanPool.start({ imagePath: path, pageSize: PAGE, workers: 2, pausedThreads: 4, deltaCacheBytes: 1 << 20, delta: true, compress: 'never' });
  t.teardown(() => pool.close());
  t.equal(pool.pausedThreads, 4, 'two workers and two hash-only helpers');
  const scan = async (pass: number, everyCore: boolean, scope: ScanScope = {}) => {
    const pages: Array<[number, number]> = [];
    const stats = await pool.scan(pass, async (batch) => {
      writePagesHeader(batch.message, 0, { imageIndex: 0, pass, count: batch.count });
      for (const r of decodePageRecords(batch.message, { pageCount: PAGES, pageSize: PAGE })) pages.push([r.pageIndex, r.encoding]);
      batch.release();
    }, { everyCore, ...scope });
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

  for (const page of [10, 40]) writer.writePage(page, randomBytes(PAGE));
  const scoped = await scan(4, true, { ranges: [[30, 50], [5, 12], [8, 35]] });
  t.same(scoped.pages.map(([p]) => p), [10, 40], 'scope ranges out of order and overlapping: the changed pages in them');
  t.equal(scoped.stats.pagesScanned, 45, 'each page of pages 5..49 read once');
  const forced = await scan(5, false, { ranges: [[20, 24], [18, 22]], force: true });
  t.same(forced.pages.map(([p]) => p), [18, 19, 20, 21, 22, 23], 'a forced re-send sends each page once');
});

t.test('an everyCore scan of many chunks: the threads claim them, each page is read once', async (t) => {
  const dir = mkdtempSync('/dev/shm/ferry-every-core-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const PAGES = 256 * 9 + 17; // nine 1 MiB chunks and a short tenth
  const path = join(dir, 'ram');
  writeFileSync(path, randomBytes(PAGES * PAGE));
  const pool = await ScanPool.start({ imagePath: path, pageSize: PAGE, workers: 1, pausedThreads: 3, deltaCacheBytes: 0, delta: false, compress: 'never' });
  t.teardown(() => pool.close());
  const dirtyPages = async (pass: number): Promise<number[]> => {
    const pages: number[] = [];
    const stats = await pool.scan(pass, async (batch) => {
      writePagesHeader(batch.message, 0, { imageIndex: 0, pass, count: batch.count });
      for (const r of decodePageRecords(batch.message, { pageCount: PAGES, pageSize: PAGE })) pages.push(r.pageIndex);
      batch.release();
    }, { everyCore: true });
    t.equal(stats.pagesScanned, PAGES, `pass ${pass}: every page read once`);
    return pages.sort((a, b) => a - b);
  };
  t.equal((await dirtyPages(0)).length, PAGES);
  const writer = ImageFile.openWrite(path, PAGE);
  t.teardown(() => writer.close());
  const changed = [0, 255, 256, 1000, 1023, 1024, 2047, 2303, 2304, PAGES - 1];
  for (const page of changed) writer.writePage(page, randomBytes(PAGE));
  t.same(await dirtyPages(1), changed, 'the changed pages, on both sides of every chunk edge');
  t.same(await dirtyPages(2), [], 'and then nothing');
});
