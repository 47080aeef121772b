/** Page ranges (protocol/src/ranges.ts): the one contract every range function keeps. */
import t from 'tap';
import { chunkRanges, clipRanges, countPages, mergeRanges, RangeCollector, type PageRange } from '@ferry/protocol';

/** The set of pages `ranges` name, as a sorted list. */
const pagesOf = (ranges: readonly PageRange[]): number[] =>
  [...new Set(ranges.flatMap(([start, end]) => Array.from({ length: Math.max(0, end - start) }, (_, k) => start + k)))].sort((a, b) => a - b);

const isNormal = (ranges: readonly PageRange[]): boolean =>
  ranges.every(([start, end], i) => start < end && (i === 0 || start > ranges[i - 1]![1]));

t.test('mergeRanges: any order in, normal form out', async (t) => {
  t.same(mergeRanges([[8, 9], [1, 3], [3, 4], [9, 12], [2, 3]]), [[1, 4], [8, 12]], 'sorts, joins overlapping and touching ranges');
  t.same(mergeRanges([[5, 7], [1, 2], [2, 3], [6, 9], [20, 20]]), [[1, 3], [5, 9]], 'an empty range is dropped');
  t.same(mergeRanges([[1, 3], [4, 4], [5, 6]]), [[1, 3], [5, 6]], 'an empty range does not bridge a gap');
  t.same(mergeRanges([[1, 3], [3, 3], [4, 6]]), [[1, 3], [4, 6]], 'nor an empty range at a range\'s end');
  t.same(mergeRanges([[9, 3], [20, 20]]), [], 'inverted and empty ranges only: nothing');
  t.same(mergeRanges([]), []);
  t.same(mergeRanges([[0, 100], [10, 20], [50, 60]]), [[0, 100]], 'ranges inside another vanish into it');
  t.same(mergeRanges([[4, 6], [4, 6], [4, 6]]), [[4, 6]], 'duplicates');
  const input: PageRange[] = [[5, 6], [1, 2]];
  mergeRanges(input);
  t.same(input, [[5, 6], [1, 2]], 'the input is left as it was');
});

t.test('mergeRanges on random lists: the same pages, in normal form', async (t) => {
  let seed = 0x2545f491;
  const next = (below: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % below;
  };
  for (let round = 0; round < 300; round++) {
    const ranges = Array.from({ length: next(12) }, (): PageRange => {
      const start = next(60);
      return [start, start + next(8) - 1]; // some empty or inverted
    });
    const merged = mergeRanges(ranges);
    if (!isNormal(merged) || JSON.stringify(pagesOf(merged)) !== JSON.stringify(pagesOf(ranges))) {
      t.fail(`merge of ${JSON.stringify(ranges)} gave ${JSON.stringify(merged)}`);
      return;
    }
  }
  t.pass('300 random lists merged to the same pages in normal form');
});

t.test('clipRanges: the parts inside a window, in input order', async (t) => {
  t.same(clipRanges([[0, 5], [8, 20]], 4, 10), [[4, 5], [8, 10]]);
  t.same(clipRanges([[8, 20], [0, 5]], 4, 10), [[8, 10], [4, 5]], 'order kept, not sorted');
  t.same(clipRanges([[0, 4], [10, 12]], 4, 10), [], 'ranges that only touch the window');
  t.same(clipRanges([[5, 5], [7, 6], [6, 8]], 0, 10), [[6, 8]], 'empty and inverted ranges dropped');
  t.same(clipRanges([[0, 10]], 5, 5), [], 'an empty window');
  t.same(clipRanges([[0, 10], [2, 6]], 3, 8), [[3, 8], [3, 6]], 'overlaps kept');
});

t.test('chunkRanges: pieces of at most the size, covering the input in order', async (t) => {
  t.same(chunkRanges([[0, 10]], 4), [[0, 4], [4, 8], [8, 10]]);
  t.same(chunkRanges([[0, 3], [10, 15]], 4), [[0, 3], [10, 14], [14, 15]], 'a piece never crosses a range boundary');
  t.same(chunkRanges([[20, 22], [0, 2]], 8), [[20, 22], [0, 2]], 'the input order is kept');
  t.same(chunkRanges([], 4), []);
  t.same(chunkRanges([[3, 3], [9, 2]], 4), [], 'empty ranges dropped');
  t.same(chunkRanges([[0, 3]], 0), [[0, 1], [1, 2], [2, 3]], 'a size under one: one page per piece');
  const chunks = chunkRanges([[5, 1000], [2000, 2001]], 256);
  t.equal(countPages(chunks), 996, 'every page once');
  t.ok(chunks.every(([a, b]) => b - a <= 256 && a < b), 'no piece over the size, none empty');
});

t.test('countPages: empty ranges count nothing, overlaps count twice', async (t) => {
  t.equal(countPages([]), 0);
  t.equal(countPages([[0, 4], [6, 6], [9, 3]]), 4);
  t.equal(countPages([[0, 4], [2, 6]]), 8);
  t.equal(countPages(mergeRanges([[0, 4], [2, 6]])), 6, 'merge first to count each page once');
});

t.test('RangeCollector: pages and ranges in ascending order become normal form', async (t) => {
  const runs = new RangeCollector();
  for (const page of [1, 2, 3, 7, 9, 10]) runs.add(page);
  t.same(runs.done(), [[1, 4], [7, 8], [9, 11]]);
  t.same(runs.done(), [], 'done() empties it');
  runs.add(0, 4);
  runs.add(2, 3);
  runs.add(4, 6);
  runs.add(6, 6);
  runs.add(8, 7);
  runs.add(8, 9);
  t.same(runs.done(), [[0, 6], [8, 9]], 'inside, touching, empty and inverted ranges');
  runs.add(5);
  t.throws(() => runs.add(4), { name: 'RangeError', message: /ascending order: 4 after 5/ }, 'a page before the current run is refused');
  t.same(runs.done(), [[5, 6]], 'and changes nothing');
  runs.add(5);
  runs.add(3, 3);
  t.same(runs.done(), [[5, 6]], 'an empty range anywhere is no disorder');
});
