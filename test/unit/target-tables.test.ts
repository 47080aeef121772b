/**
 * The target's page-hash tables and their memory budget, without sockets: a sparse table that behaves as
 * a Map, a page table that reads as a flat array whatever mix of sparse and dense chunks it holds and is
 * charged in proportion to the pages written, and a budget whose shares cannot be taken by one session.
 */
import t from 'tap';
import { createPageHasher, blockDigests, tableDigest } from '@ferry/pages';
import { FerryError } from '@ferry/protocol';
import {
  DENSE_AT, DENSE_CHUNK_BYTES, HASH_CHUNK_PAGES, PageHashTable, SparseHashes, TableBudget, type TableHolder,
  type TableMemory,
} from '@ferry/agent-target';

/** A TableMemory that counts what it is asked for and refuses past `limit`. */
function meter(limit = Infinity): TableMemory & { held: number; peak: number } {
  const m = {
    held: 0,
    peak: 0,
    take(bytes: number) {
      if (m.held + bytes > limit) throw new Error('over');
      m.held += bytes;
      m.peak = Math.max(m.peak, m.held);
    },
    give(bytes: number) { m.held -= bytes; },
  };
  return m;
}

/** A deterministic stream of numbers (xorshift), so a failure can be replayed. */
function numbers(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

t.test('the sparse table agrees with a Map through inserts, updates and deletes, and pays before it grows', async (t) => {
  for (const multiplier of [1, 0x9e3779b1, 0x12345]) {
    const memory = meter();
    const sparse = new SparseHashes(memory, multiplier);
    const reference = new Map<number, bigint>();
    const next = numbers(multiplier);
    let answers = 0;
    for (let i = 0; i < 20_000; i++) {
      const page = next() % 5000;
      if (next() % 3 === 0) {
        if (sparse.delete(page) === reference.delete(page)) answers++;
      } else {
        const hash = BigInt(next()) << 20n | BigInt(i);
        if (sparse.set(page, hash) === !reference.has(page)) answers++;
        reference.set(page, hash);
      }
    }
    t.equal(answers, 20_000, 'set and delete say whether the page was there, as the Map does');
    let same = sparse.size === reference.size;
    for (let page = 0; page < 5000; page++) same &&= sparse.get(page) === reference.get(page);
    t.ok(same, `multiplier ${multiplier}: every page reads as in the Map (${reference.size} entries)`);
    t.equal(memory.held, sparse.bytes, 'what it holds is what it was charged');
    t.ok(sparse.bytes <= 4 * 12 * 5000, 'at most four slots per entry it ever held');
  }
});

t.test('the sparse table refuses to grow when the memory is not there, and stays as it was', async (t) => {
  const sparse = new SparseHashes(meter(16 * 12), 0x9e3779b1);
  for (let page = 0; page < 8; page++) sparse.set(page, 7n);
  t.throws(() => sparse.set(8, 7n), /over/);
  t.equal(sparse.size, 8);
  t.equal(sparse.get(7), 7n);
  t.equal(sparse.get(8), undefined);
});

t.test('a page table reads as a flat array, sparse or dense, and its pieces digest the same', async (t) => {
  const hasher = await createPageHasher();
  const length = 3 * HASH_CHUNK_PAGES + 100;
  const table = new PageHashTable(length, 5n, meter());
  const flat = new BigUint64Array(length).fill(5n);
  const next = numbers(42);
  // Chunk 0 dense (every page), chunk 1 sparse (a few), chunk 2 untouched, the short last chunk sparse.
  for (let page = 0; page < HASH_CHUNK_PAGES; page++) { table.set(page, BigInt(page) + 9n); flat[page] = BigInt(page) + 9n; }
  for (let k = 0; k < 300; k++) {
    const page = HASH_CHUNK_PAGES + (next() % HASH_CHUNK_PAGES);
    const hash = k % 7 === 0 ? 5n : BigInt(next());
    table.set(page, hash);
    flat[page] = hash;
  }
  for (const page of [length - 1, length - 50]) { table.set(page, 77n); flat[page] = 77n; }
  let same = true;
  for (let page = 0; page < length; page++) same &&= table.get(page) === flat[page];
  t.ok(same, 'every entry reads as in the flat table');
  t.equal(table.digest(hasher), tableDigest(hasher, flat), 'whole-table digest');
  t.same([...table.blockDigests(hasher, 1000)], [...blockDigests(hasher, flat, 1000)], 'block digests across sparse and dense chunks');
  const joined = Buffer.concat([...table.pieces(10, length - 10)]);
  t.ok(joined.equals(new Uint8Array(flat.buffer, 80, (length - 20) * 8)), 'pieces of a range are the flat bytes');
});

t.test('a page table is charged for the pages written, not for the chunks they fall in', async (t) => {
  const pages = 512 * HASH_CHUNK_PAGES; // 32 GiB of 4 KiB pages
  const memory = meter();
  const table = new PageHashTable(pages, 0n, memory);
  // The old attack: one page in every chunk used to cost a whole 128 KiB chunk each (64 MiB in all).
  for (let chunk = 0; chunk < 512; chunk++) table.set(chunk * HASH_CHUNK_PAGES + 3, 1n);
  t.ok(memory.peak <= 512 * 48, `one page in each of 512 chunks holds ${memory.peak} bytes (<= 48 per page)`);
  t.equal(memory.held, table.allocatedBytes);

  // Written densely, a chunk turns dense at DENSE_AT pages, and costs no more than 112 bytes a page on the
  // way (past the sparse table's first 16 slots, 192 bytes, which any table that holds a page has).
  const dense = meter();
  const filled = new PageHashTable(4 * HASH_CHUNK_PAGES, 0n, dense);
  let worst = 0;
  for (let page = 0; page < 4 * HASH_CHUNK_PAGES; page++) {
    filled.set(page, BigInt(page + 1));
    worst = Math.max(worst, (dense.held - 192) / (page + 1));
  }
  t.ok(worst <= 112, `at most 192 + ${worst.toFixed(1)} bytes per page written at any point`);
  t.ok(dense.held <= 4 * DENSE_CHUNK_BYTES + 12 * 4 * DENSE_AT, `a full table holds its dense chunks and a small sparse table (${dense.held} bytes)`);

  // Any pattern: never more than 112 bytes per distinct page written.
  const scattered = meter();
  const random = new PageHashTable(pages, 0n, scattered);
  const next = numbers(7);
  const written = new Set<number>();
  for (let i = 0; i < 200_000; i++) {
    const page = i % 2 === 0 ? next() % pages : (next() % 64) * HASH_CHUNK_PAGES + (next() % HASH_CHUNK_PAGES);
    random.set(page, 9n);
    written.add(page);
  }
  t.ok(scattered.peak <= 192 + 112 * written.size, `${written.size} pages scattered and clustered: ${(scattered.peak / written.size).toFixed(1)} bytes per page at the peak`);
});

t.test('a page written back to the zero hash leaves the sparse table', async (t) => {
  const table = new PageHashTable(HASH_CHUNK_PAGES * 2, 0n, meter());
  table.set(5, 1n);
  table.set(5, 0n);
  table.set(HASH_CHUNK_PAGES + 1, 0n);
  t.equal(table.get(5), 0n);
  t.equal(table.get(HASH_CHUNK_PAGES + 1), 0n);
  // A chunk that had DENSE_AT - 1 pages, lost one and gained one, is still sparse: counts follow deletions.
  for (let page = 0; page < DENSE_AT - 1; page++) table.set(page, 2n);
  table.set(0, 0n);
  table.set(DENSE_AT, 2n);
  t.ok(table.allocatedBytes < DENSE_CHUNK_BYTES, 'still sparse');
  table.set(DENSE_AT + 1, 2n);
  t.ok(table.allocatedBytes >= DENSE_CHUNK_BYTES, 'dense at DENSE_AT pages');
  t.equal(table.get(0), 0n);
  t.equal(table.get(DENSE_AT + 1), 2n);
});

/** A session as the budget sees it. */
function holder(kept = false): TableHolder & { evicted: FerryError | undefined; kept: boolean } {
  return { kept, evictable: true, evicted: undefined, evict(error) { this.evicted = error; } };
}

t.test('the budget: free memory goes to whoever asks; past its share a session gets only what is free', async (t) => {
  const budget = new TableBudget(400, 4); // share 100
  const big = budget.account('big');
  budget.bind(big, holder());
  big.take(390);
  const other = budget.account('other');
  const otherHolder = holder();
  budget.bind(other, otherHolder);
  other.take(10);
  t.throws(() => big.take(10), { code: 'FERRY_ERR_LIMIT', message: /past its share of .*--max-table-memory/ }, 'a session past its share takes nothing from others');
  t.equal(otherHolder.evicted, undefined);
  t.equal(budget.used, 400);
});

t.test('the budget: a session within its share gets memory back from kept sessions, then from sessions past their share', async (t) => {
  const budget = new TableBudget(400, 4);
  const kept = budget.account('kept');
  const keptHolder = holder(true);
  budget.bind(kept, keptHolder);
  kept.take(50);
  const hog = budget.account('hog');
  const hogHolder = holder();
  budget.bind(hog, hogHolder);
  hog.take(300);
  const fair = budget.account('fair');
  const fairHolder = holder();
  budget.bind(fair, fairHolder);
  fair.take(50);
  const honest = budget.account('honest');
  budget.bind(honest, holder());

  honest.take(40);
  t.match(keptHolder.evicted, { code: 'FERRY_ERR_LIMIT', message: /waiting for a resume.*honest/ }, 'the kept session goes first');
  t.equal(hogHolder.evicted, undefined, 'and is enough');
  honest.take(60);
  t.match(hogHolder.evicted, { code: 'FERRY_ERR_LIMIT', message: /more than its share/ }, 'then the session past its share');
  t.equal(fairHolder.evicted, undefined, 'a session within its share is never taken from');
  t.equal(budget.used, 150);
  t.throws(() => hog.take(1), { code: 'FERRY_ERR_LIMIT' }, 'an evicted session may take nothing more');
  hog.give(300);
  t.equal(budget.used, 150, 'and what it gives back was already counted free');
  budget.close(hog);
  budget.close(fair);
  t.equal(budget.used, 100);
});

t.test('the budget: sessions that cannot be ended (committing) are not taken from', async (t) => {
  const budget = new TableBudget(200, 2);
  const committing = budget.account('committing');
  budget.bind(committing, { kept: false, evictable: false, evict: () => t.fail('not evictable') });
  committing.take(200);
  const next = budget.account('next');
  budget.bind(next, holder());
  t.throws(() => next.take(10), { code: 'FERRY_ERR_LIMIT', message: /committing/ });
});
