import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePageRecords, PageEncoding, writePagesHeader, PAGES_HEADER_BYTES, RECORD_HEADER_BYTES, type PageRecord } from '@ferry/protocol';
import {
  allocatedBytes, blockDigests, ContentIndex, createPageHasher, DeltaCache, ImageFile, isZeroPage, looksIncompressible, newSampler,
  adoptOutcome, LinkWatch, lz4Compress, lz4Decompress, mismatchedRanges, PageEncoder, PayloadError, RecordBatch, ScanPool, tableDigest, xorInto, zeroPageHash,
  type EncoderTables,
  type ScanScope,
} from '@ferry/pages';

const PAGE = 4096;
const hasher = await createPageHasher();
const random = (n: number) => new Uint8Array(randomBytes(n));
const compressible = (seed = 1) => new Uint8Array(PAGE).map((_, i) => (i % 13) + seed);
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;
const tempDir = (t: { teardown(fn: () => unknown): void }) => {
  const dir = mkdtempSync('/dev/shm/ferry-pages-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

t.test('xorInto: aligned, unaligned and in place, its own inverse', async (t) => {
  for (const [offset, length] of [[0, PAGE], [0, 13], [3, 4099], [8, 1000]] as const) {
    const a = random(length + 16).subarray(offset, offset + length);
    const b = random(length + 16).subarray(offset, offset + length);
    const into = new Uint8Array(length + 16).subarray(offset, offset + length);
    xorInto(into, a, b);
    t.ok(into.every((v, i) => v === (a[i]! ^ b[i]!)), `xor correct at offset ${offset}, length ${length}`);
    const back = new Uint8Array(length);
    xorInto(back, into, b);
    t.ok(same(back, a), `self-inverse at offset ${offset}`);
  }
  const a = random(64), b = random(64), original = a.slice();
  xorInto(a.subarray(1, 33), a.subarray(1, 33), b.subarray(0, 32)); // mixed alignment, in place
  t.ok(a.subarray(1, 33).every((v, i) => v === (original[i + 1]! ^ b[i]!)), 'in place, mixed alignment');
  t.equal(a[0], original[0]); t.equal(a[33], original[33], 'nothing outside the view');
  t.throws(() => xorInto(new Uint8Array(8), new Uint8Array(8), new Uint8Array(7)), RangeError);
});

t.test('isZeroPage', async (t) => {
  t.ok(isZeroPage(new Uint8Array(PAGE)));
  t.ok(isZeroPage(new Uint8Array(0)));
  for (const at of [0, 1, PAGE - 1]) { const p = new Uint8Array(PAGE); p[at] = 1; t.notOk(isZeroPage(p), `byte ${at} set`); }
  const big = new Uint8Array(200_000); t.ok(isZeroPage(big)); big[150_000] = 0x80; t.notOk(isZeroPage(big), 'past the first 64 KiB');
});

t.test('lz4: round trip and every bad payload is a PayloadError', async (t) => {
  for (const page of [compressible(), random(PAGE), new Uint8Array(PAGE)]) {
    const c = lz4Compress(page);
    t.equal(new DataView(c.buffer, c.byteOffset).getUint32(0, true), PAGE, 'size prefix');
    t.ok(same(lz4Decompress(c, PAGE), page), 'round trip');
  }
  const c = lz4Compress(compressible());
  t.throws(() => lz4Decompress(c, 8192), PayloadError, 'wrong expected size');
  t.throws(() => lz4Decompress(c.subarray(0, 4), PAGE), PayloadError, 'too short');
  const garbage = new Uint8Array(100).fill(0xff); new DataView(garbage.buffer).setUint32(0, PAGE, true);
  t.throws(() => lz4Decompress(garbage, PAGE), PayloadError, 'garbage');
  const short = new Uint8Array(lz4Compress(new Uint8Array(2048).map((_, i) => i % 7)));
  new DataView(short.buffer).setUint32(0, PAGE, true);
  t.throws(() => lz4Decompress(short, PAGE), PayloadError, 'decodes to 2048 bytes, declares 4096');
});

t.test('DeltaCache: LRU bounded in bytes, copies, reuses evicted buffers', async (t) => {
  const cache = new DeltaCache(50, 16); // room for 3 pages of 16 bytes
  const page = (v: number) => new Uint8Array(16).fill(v);
  for (const p of [0, 1, 2]) cache.set(p, page(p), BigInt(p));
  t.equal(cache.size, 3); t.equal(cache.bytes, 48);
  cache.get(0); // 0 becomes the most recently used: 1 is now the oldest
  cache.set(3, page(3), 3n);
  t.equal(cache.get(1), undefined, 'LRU entry evicted');
  t.same([0, 2, 3].map((p) => cache.get(p)?.[0]), [0, 2, 3]);
  // LRU order now 0, 2, 3; the next eviction must hand 0's buffer to the new entry.
  const reused = cache.get(0)!; cache.get(2); cache.get(3);
  const source = page(9);
  cache.set(4, source, 4n);
  t.equal(cache.get(0), undefined);
  t.equal(cache.get(4), reused, 'evicted buffer reused');
  t.same([...reused], [...page(9)]);
  source.fill(1);
  t.equal(cache.get(4)![0], 9, 'set stores a copy');
  cache.set(4, page(7), 7n);
  t.equal(cache.get(4), reused, 'updating a page keeps its buffer'); t.equal(cache.size, 3);
  t.equal(cache.retainMatching((p) => (p === 2 ? 99n : BigInt(p === 4 ? 7 : p))), 1, 'one entry held something else');
  t.equal(cache.get(2), undefined); t.ok(cache.get(3)); t.ok(cache.get(4));
  cache.delete(3); t.equal(cache.get(3), undefined);
  cache.clear(); t.equal(cache.size, 0);
  const none = new DeltaCache(15, 16); none.set(0, page(1), 1n); t.equal(none.size, 0, 'capacity below one page stores nothing');
});

t.test('ContentIndex: insert, lookup, overwrite, collisions, rebuild when full', async (t) => {
  const live = new Map<bigint, number>([[0xdead_beef_0000_0001n, 5], [0x1234n, 6]]);
  let rebuilds = 0;
  const index = new ContentIndex(4, (i) => { rebuilds++; for (const [h, p] of live) i.insert(h, p); });
  for (const [h, p] of live) index.insert(h, p);
  t.equal(index.lookup(0xdead_beef_0000_0001n), 5); t.equal(index.lookup(0x1234n), 6); t.equal(index.lookup(77n), -1);
  index.insert(0x1234n, 9); t.equal(index.lookup(0x1234n), 9, 'last insert wins'); live.set(0x1234n, 9);
  index.insert(0x0000_0001_0000_1234n, 3); // same low 32 bits, another hash
  t.equal(index.lookup(0x1234n), 9); t.equal(index.lookup(0x0000_0001_0000_1234n), 3);
  for (let n = 0; n < 3000; n++) index.insert(BigInt(n) * 0x9e37_79b9_7f4a_7c15n & 0xffff_ffff_ffff_ffffn, 100 + n);
  t.ok(rebuilds >= 2, `rebuilt ${rebuilds} times`);
  t.equal(index.lookup(0xdead_beef_0000_0001n), 5, 'live entry survives rebuilds');
  t.equal(index.lookup(2999n * 0x9e37_79b9_7f4a_7c15n & 0xffff_ffff_ffff_ffffn), 3099, 'latest insert found');
  index.clear(); t.equal(index.lookup(0x1234n), -1);
});

t.test('hash helpers: zero hash, table digest, block digests and mismatched ranges', async (t) => {
  t.equal(zeroPageHash(hasher, PAGE), hasher.hashPage(new Uint8Array(PAGE)));
  t.not(zeroPageHash(hasher, 512), zeroPageHash(hasher, PAGE));
  const big = new BigUint64Array(200_000).map((_, i) => BigInt(i) * 0x1000_0001n);
  t.equal(tableDigest(hasher, big), hasher.hashPage(new Uint8Array(big.buffer)), 'sliced digest equals one-shot xxh64');
  const view = big.subarray(10, 30);
  t.equal(tableDigest(hasher, view), tableDigest(hasher, view.slice()), 'views hash their own bytes');
  const changed = big.slice(); changed[150_000]! ^= 1n;
  t.not(tableDigest(hasher, changed), tableDigest(hasher, big), 'one entry changes the digest');

  const ours = new BigUint64Array(10).map((_, i) => BigInt(i + 1));
  const blocks = blockDigests(hasher, ours, 4);
  t.equal(blocks.length, 3);
  t.equal(blocks[2], hasher.hashPage(new Uint8Array(ours.buffer, 64, 16)), 'last partial block covers 2 entries');
  const ranges = (pages: number[]) => {
    const theirs = ours.slice(); for (const p of pages) theirs[p] = 0n;
    return mismatchedRanges(blocks, blockDigests(hasher, theirs, 4), 4, 10);
  };
  t.same(ranges([]), []);
  t.same(ranges([5]), [[4, 8]]);
  t.same(ranges([3, 5]), [[0, 8]], 'adjacent blocks merge');
  t.same(ranges([1, 9]), [[0, 4], [8, 10]], 'last block ends at pageCount');
  t.same(ranges([0, 4, 9]), [[0, 10]]);
});

t.test('looksIncompressible: random pages yes; text, repeated and zero-heavy pages no', async (t) => {
  const sampler = newSampler();
  for (let i = 0; i < 20; i++) t.ok(looksIncompressible(sampler, random(PAGE)), `random page ${i}`);
  const text = new TextEncoder().encode('GET /index.html HTTP/1.1 host: example.org accept: */* '.repeat(80)).subarray(0, PAGE);
  t.notOk(looksIncompressible(sampler, text), 'text');
  t.notOk(looksIncompressible(sampler, compressible(3)), 'a repeating pattern');
  const sparse = new Uint8Array(PAGE);
  sparse.set(random(512), 1024);
  t.notOk(looksIncompressible(sampler, sparse), 'mostly zero with a random island');
  const s = makeState(false);
  t.equal(encodeOne(s, 5, random(PAGE), { compress: true, force: false }).encoding, PageEncoding.Raw, 'a random page is not compressed');
});

type State = EncoderTables & { readonly encoder: PageEncoder };

function makeState(withCache = true): State {
  const zeroHash = zeroPageHash(hasher, PAGE);
  const targetHashes = new BigUint64Array(8).fill(zeroHash);
  const index = new ContentIndex(8, (i) => targetHashes.forEach((h, p) => h !== zeroHash && i.insert(h, p)));
  const tables = { pageSize: PAGE, zeroHash, targetHashes, cache: withCache ? new DeltaCache(1 << 20, PAGE) : undefined, index };
  return { ...tables, encoder: new PageEncoder(tables) };
}
/** Encodes one page after a PAGES header and decodes it back (which checks the returned offset too). */
function encodeOne(state: State, page: number, bytes: Uint8Array, choice: { compress: boolean; force: boolean; fillCache?: boolean } = { compress: false, force: false }) {
  const batch = new RecordBatch(new Uint8Array(PAGES_HEADER_BYTES + RECORD_HEADER_BYTES + PAGE), PAGES_HEADER_BYTES);
  if (!batch.hasRoomForPage(PAGE)) throw new Error('a batch sized for one page has room for it');
  state.encoder.encode(batch, page, bytes, hasher.hashPage(bytes), { fillCache: true, ...choice });
  if (batch.count !== 1) throw new Error(`batch count ${batch.count}`);
  writePagesHeader(batch.bytes, 0, { imageIndex: 0, pass: 0, count: 1 });
  const [record] = decodePageRecords(batch.message, { pageCount: 8, pageSize: PAGE });
  if (batch.stats.payloadBytes !== batch.offset - PAGES_HEADER_BYTES) throw new Error(`payloadBytes ${batch.stats.payloadBytes} != record bytes`);
  return { ...record!, stats: batch.stats };
}
const copyFrom = (record: PageRecord) => (record.encoding === PageEncoding.Copy ? record.from : -1);
const withChanges = (page: Uint8Array) => { const p = page.slice(); for (let i = 0; i < 16; i++) p[i * 200]! ^= 0x5a; return p; };

t.test('PageEncoder chooses ZERO, COPY, XOR_LZ4, LZ4, RAW in that order', async (t) => {
  const s = makeState();
  const r = random(PAGE);
  const raw = encodeOne(s, 1, r);
  t.match(raw, { encoding: PageEncoding.Raw, stats: { raw: 1 } }); t.ok(same(raw.payload, r));
  t.equal(s.targetHashes[1], hasher.hashPage(r)); t.equal(s.index!.lookup(hasher.hashPage(r)), 1); t.ok(same(s.cache!.get(1)!, r));

  const copy = encodeOne(s, 2, r);
  t.match(copy, { encoding: PageEncoding.Copy, stats: { copy: 1 } }); t.equal(copyFrom(copy), 1);
  t.equal(encodeOne(s, 3, r, { compress: false, force: true }).encoding, PageEncoding.Raw, 'force: no COPY');

  const r2 = withChanges(r);
  const delta = encodeOne(s, 1, r2, { compress: true, force: false });
  t.match(delta, { encoding: PageEncoding.XorLz4, stats: { delta: 1 } });
  const applied = new Uint8Array(PAGE); xorInto(applied, r, lz4Decompress(delta.payload, PAGE));
  t.ok(same(applied, r2), 'delta applies to the previous copy');
  t.equal(encodeOne(s, 1, withChanges(r2), { compress: false, force: true }).encoding, PageEncoding.Raw, 'force: no delta');
  t.equal(encodeOne(s, 1, random(PAGE)).encoding, PageEncoding.Raw, 'a large delta is not worth it');

  const c = compressible();
  const lz4 = encodeOne(s, 1, c, { compress: true, force: false });
  t.match(lz4, { encoding: PageEncoding.Lz4, stats: { lz4: 1 } }); t.ok(same(lz4Decompress(lz4.payload, PAGE), c));
  t.equal(encodeOne(s, 4, compressible(2), { compress: false, force: false }).encoding, PageEncoding.Raw, 'no LZ4 unless asked');
  t.equal(encodeOne(s, 5, random(PAGE), { compress: true, force: false }).encoding, PageEncoding.Raw, 'LZ4 that does not help');

  t.ok(s.cache!.get(6) === undefined); s.cache!.set(6, r, hasher.hashPage(r));
  const zero = encodeOne(s, 6, new Uint8Array(PAGE));
  t.match(zero, { encoding: PageEncoding.Zero, stats: { zero: 1, payloadBytes: RECORD_HEADER_BYTES } });
  t.equal(s.targetHashes[6], s.zeroHash); t.equal(s.cache!.get(6), undefined, 'ZERO drops the cached copy');

  const s5 = random(PAGE); encodeOne(s, 5, s5); // page 4 is cached; its new content equals page 5's
  t.equal(copyFrom(encodeOne(s, 4, s5)), 5, 'COPY wins over a delta');
  encodeOne(s, 5, random(PAGE)); // the target's page 5 changes; page 4 still holds s5
  t.equal(copyFrom(encodeOne(s, 7, s5)), 4, 'COPY from the page that still holds the content');
  const stale = makeState(); const x = random(PAGE);
  encodeOne(stale, 1, x); encodeOne(stale, 1, random(PAGE)); // the index entry for x is now stale
  t.equal(encodeOne(stale, 2, x).encoding, PageEncoding.Raw, 'no COPY from a page the target no longer holds');
  const noCache = makeState(false); encodeOne(noCache, 0, r);
  t.equal(encodeOne(noCache, 0, r2).encoding, PageEncoding.Raw, 'no delta without a cache');
});

t.test('ImageFile: sparse create, page reads and writes, short reads at the end', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'image');
  const file = ImageFile.createSparse(path, 16 * PAGE, PAGE);
  t.teardown(() => file.close());
  t.match(file, { size: 16 * PAGE, pageCount: 16, pageSize: PAGE });
  t.ok(allocatedBytes(path) < 4 * PAGE, `sparse: ${allocatedBytes(path)} bytes allocated`);
  t.ok(isZeroPage(file.readPage(9, new Uint8Array(PAGE))));
  const a = random(PAGE), bc = random(2 * PAGE);
  file.writePage(3, a); file.writePages(14, bc);
  t.ok(allocatedBytes(path) >= 3 * PAGE && allocatedBytes(path) < 16 * PAGE);
  const three = new Uint8Array(3 * PAGE);
  t.equal(file.readPages(2, 3, three), 3 * PAGE);
  t.ok(isZeroPage(three.subarray(0, PAGE)) && same(three.subarray(PAGE, 2 * PAGE), a) && isZeroPage(three.subarray(2 * PAGE)));
  const tail = new Uint8Array(4 * PAGE).fill(0xee);
  t.equal(file.readPages(14, 4, tail), 2 * PAGE, 'only two pages left');
  t.ok(same(tail.subarray(0, 2 * PAGE), bc)); t.equal(tail[2 * PAGE], 0xee, 'nothing written past what was read');
  t.equal(file.readPages(0, 4, new Uint8Array(PAGE)), PAGE, 'bounded by the buffer');
  t.throws(() => file.writePage(16, a), RangeError);
  file.sync();
  t.ok(same(readFileSync(path).subarray(3 * PAGE, 4 * PAGE), a));
  const reader = ImageFile.openRead(path, PAGE); t.equal(reader.pageCount, 16); reader.close();
  t.throws(() => reader.readPage(0, new Uint8Array(PAGE)), /closed/);
  writeFileSync(join(dir, 'odd'), new Uint8Array(PAGE + 1));
  t.throws(() => ImageFile.openRead(join(dir, 'odd'), PAGE), /not a positive multiple/);
  writeFileSync(join(dir, 'empty'), new Uint8Array(0));
  t.throws(() => ImageFile.openRead(join(dir, 'empty'), PAGE), /not a positive multiple/);
});

type Collected = { records: PageRecord[]; pages: number[]; stats: Awaited<ReturnType<ScanPool['scan']>> };

t.test('ScanPool end to end on a real file', async (t) => {
  const PAGES = 64;
  const path = join(tempDir(t), 'ram');
  const image = new Uint8Array(PAGES * PAGE);
  const initial = [1, 2, 5, 10, 33, 63];
  for (const p of initial) image.set(random(PAGE), p * PAGE);
  writeFileSync(path, image);
  const pool = await ScanPool.start({ imagePath: path, pageSize: PAGE, workers: 2, deltaCacheBytes: 1 << 20, delta: true, compress: 'never' });
  t.teardown(() => pool.close());
  const target = new Uint8Array(PAGES * PAGE); // what the target would hold, built from the records
  const writer = ImageFile.openWrite(path, PAGE);
  t.teardown(() => writer.close());

  async function scan(pass: number, scope?: ScanScope): Promise<Collected> {
    const records: PageRecord[] = [];
    const stats = await pool.scan(pass, async (batch) => {
      writePagesHeader(batch.message, 0, { imageIndex: 0, pass, count: batch.count });
      for (const r of decodePageRecords(batch.message, { pageCount: PAGES, pageSize: PAGE })) records.push({ ...r, payload: r.payload.slice() });
      batch.release();
    }, scope);
    for (const r of records) {
      const page = target.subarray(r.pageIndex * PAGE, (r.pageIndex + 1) * PAGE);
      if (r.encoding === PageEncoding.Zero) page.fill(0);
      else if (r.encoding === PageEncoding.Raw) page.set(r.payload);
      else if (r.encoding === PageEncoding.Lz4) page.set(lz4Decompress(r.payload, PAGE));
      else if (r.encoding === PageEncoding.XorLz4) xorInto(page, page, lz4Decompress(r.payload, PAGE));
      else if (r.encoding === PageEncoding.Copy) page.set(target.subarray(r.from * PAGE, (r.from + 1) * PAGE));
    }
    return { records, pages: records.map((r) => r.pageIndex).sort((a, b) => a - b), stats };
  }
  const byPage = (c: Collected) => Object.fromEntries(c.records.map((r) => [r.pageIndex, r.encoding]));
  const inSync = () => same(target, readFileSync(path));

  const pass0 = await scan(0);
  t.same(pass0.pages, initial, 'pass 0 sends exactly the non-zero pages');
  t.ok(pass0.records.every((r) => r.encoding === PageEncoding.Raw));
  t.match(pass0.stats, { pass: 0, pagesScanned: PAGES, dirtyPages: initial.length });
  t.ok(inSync(), 'target holds the image after pass 0');
  t.same((await scan(1)).pages, [], 'no change, nothing sent');

  const page1 = readFileSync(path).subarray(PAGE, 2 * PAGE);
  writer.writePage(2, withChanges(image.subarray(2 * PAGE, 3 * PAGE)));
  writer.writePage(33, withChanges(image.subarray(33 * PAGE, 34 * PAGE)));
  writer.writePage(40, random(PAGE)); writer.writePage(5, new Uint8Array(PAGE)); writer.writePage(20, page1);
  const pass2 = await scan(2);
  // Pass 0 on a fast link (no compression) does not fill the delta cache: a page's first re-send is whole.
  t.same(byPage(pass2), { 2: PageEncoding.Raw, 5: PageEncoding.Zero, 20: PageEncoding.Copy, 33: PageEncoding.Raw, 40: PageEncoding.Raw });
  t.equal(copyFrom(pass2.records.find((r) => r.pageIndex === 20)!), 1);
  writer.writePage(2, withChanges(readFileSync(path).subarray(2 * PAGE, 3 * PAGE)));
  writer.writePage(33, withChanges(readFileSync(path).subarray(33 * PAGE, 34 * PAGE)));
  t.same(byPage(await scan(2)), { 2: PageEncoding.XorLz4, 33: PageEncoding.XorLz4 }, 'the second re-send is a delta');
  t.ok(inSync(), 'target holds the image after the delta pass');

  pool.setCompress(true);
  writer.writePage(45, compressible());
  t.same(byPage(await scan(3)), { 45: PageEncoding.Lz4 }, 'setCompress turns LZ4 on');
  pool.setCompress(false);

  const forced = await scan(4, { ranges: [[0, 4], [30, 34]], force: true });
  t.same(forced.pages, [0, 1, 2, 3, 30, 31, 32, 33], 'force sends exactly the ranges');
  t.ok(forced.records.every((r) => r.encoding === PageEncoding.Raw || r.encoding === PageEncoding.Zero));
  t.match(forced.stats, { pagesScanned: 8, dirtyPages: 8 });

  const table = pool.targetHashes.slice();
  table[2] = zeroPageHash(hasher, PAGE); target.fill(0, 2 * PAGE, 3 * PAGE);
  table[7] = 0x0123_4567n; target.fill(0x77, 7 * PAGE, 8 * PAGE);
  await pool.adoptTargetHashes(table);
  const adopted = await scan(5);
  t.same(byPage(adopted), { 2: PageEncoding.Raw, 7: PageEncoding.Zero }, 'exactly the pages that differ; no delta against dropped cache');
  t.ok(inSync(), 'target holds the image after adopting its table');
  await t.rejects(pool.adoptTargetHashes(new BigUint64Array(3)), RangeError);

  writer.writePage(10, random(PAGE));
  const boom = new Error('socket gone');
  await t.rejects(pool.scan(6, async () => { throw boom; }), boom, 'the scan rejects with the onBatch error');
  const again = await scan(7, { force: true });
  t.equal(again.pages.length, PAGES, 'the pool scans again after a failed scan');
  t.ok(inSync());
});

t.test('adoptTargetHashes: a worker that failed is a failure, never a success', async (t) => {
  t.equal(adoptOutcome({ type: 'adopted', droppedCacheEntries: 2 }), 'adopted');
  t.match(adoptOutcome({ type: 'failed', message: 'out of memory' }), /could not adopt the target's page table: out of memory/);
  t.equal(adoptOutcome({ type: 'ready' }), undefined, 'anything else is not an answer');

  const path = join(tempDir(t), 'ram');
  writeFileSync(path, random(8 * PAGE));
  const pool = await ScanPool.start({ imagePath: path, pageSize: PAGE, workers: 2, deltaCacheBytes: 1 << 20, delta: true, compress: 'never' });
  await pool.adoptTargetHashes(pool.targetHashes.slice());
  await pool.close();
  await t.rejects(pool.adoptTargetHashes(pool.targetHashes.slice()), /closed/, 'workers that are gone: rejects at once instead of hanging');
  await t.rejects(pool.scan(0, async (b) => b.release()), /closed/);
});

t.test('LinkWatch: saving bytes stays on only where it sends more pages per second, measured both ways', async (t) => {
  const MiB = 1 << 20;
  /** Feeds one 1 s window of batches: `pagesPerSecond` with saving on or off, as the link would take them. */
  const feed = (watch: LinkWatch, clock: { now: number }, queued: number, rate: (saving: boolean) => number, saving: boolean) => {
    let result = saving;
    for (let k = 0; k < 4; k++) {
      clock.now += 250;
      result = watch.update(queued, rate(saving) / 4);
    }
    return result;
  };
  const run = (queued: number, rate: (saving: boolean) => number, windows: number) => {
    const clock = { now: 0 };
    const watch = new LinkWatch(() => clock.now);
    const modes: boolean[] = [];
    let saving = false;
    for (let w = 0; w < windows; w++) modes.push((saving = feed(watch, clock, queued, rate, saving)));
    return modes;
  };
  const slowWire = run(8 * MiB, (saving) => (saving ? 2000 : 1000), 12);
  t.same(slowWire.slice(0, 3), [true, true, true], 'a slow wire: tried after one window, kept because it sends twice the pages');
  t.equal(slowWire.filter((on) => !on).length, 2, 're-measured off once in 12 windows (a window to settle, one measured)');
  const busyCpu = run(8 * MiB, (saving) => (saving ? 500 : 1000), 12);
  t.same(busyCpu.slice(0, 5), [true, true, false, false, false], 'a busy CPU behind a full queue: tried, settled, measured slower, turned off');
  t.ok(busyCpu.filter((on) => on).length <= 3, 'only the probes turn it on again');
  t.same(run(2 * MiB, (saving) => (saving ? 2000 : 1000), 3), [true, true, true], 'two batches waiting (2 MiB) are enough to measure');
  t.same(run(8 * MiB, () => 1000, 4), [true, true, true, true], 'no cost seen (a slow wire and caching only): on');
  t.same(run(100_000, (saving) => (saving ? 2000 : 1000), 4), [false, false, false, false], 'an empty queue: the scanner is the bottleneck');
});
