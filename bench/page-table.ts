/**
 * `node --import tsx bench/page-table.ts`: the cost of the target's page-hash table on its hot path, in
 * nanoseconds per call, beside the xxh64 of a 4 KiB page that every received page costs anyway.
 *   - pass 0: every page of a 1 GiB image (262144 pages) set in order, then read back
 *   - scattered: 100000 pages at random over a 32 GiB image, set then read
 * Each figure is the median of 7 runs. The machine is shared: compare figures of one run.
 */
import { randomBytes } from 'node:crypto';
import { createPageHasher } from '@ferry/pages';
import { PageHashTable } from '@ferry/agent-target';

interface Table {
  get(page: number): bigint;
  set(page: number, hash: bigint): void;
}

const RUNS = 7;
const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** ns per set and per get of `pages` (in that order) in a fresh table of `length` entries. */
export function timeTable(make: (length: number) => Table, length: number, pages: Uint32Array): { set: number; get: number } {
  const hashes = new BigUint64Array(randomBytes(pages.length * 8).buffer);
  const sets: number[] = [];
  const gets: number[] = [];
  let sink = 0n;
  for (let run = 0; run < RUNS; run++) {
    const table = make(length);
    let start = performance.now();
    for (let i = 0; i < pages.length; i++) table.set(pages[i]!, hashes[i]! | 1n);
    sets.push((performance.now() - start) * 1e6 / pages.length);
    start = performance.now();
    for (let i = 0; i < pages.length; i++) sink ^= table.get(pages[i]!);
    gets.push((performance.now() - start) * 1e6 / pages.length);
  }
  if (sink === -1n) console.log('unreachable');
  return { set: median(sets), get: median(gets) };
}

export const PASS0_PAGES = 262_144;
export const SCATTERED_LENGTH = 8 * 1024 * 1024;

export function workloads(): Array<{ name: string; length: number; pages: Uint32Array }> {
  const pass0 = Uint32Array.from({ length: PASS0_PAGES }, (_, i) => i);
  const scattered = new Uint32Array(randomBytes(100_000 * 4).buffer).map((x) => x % SCATTERED_LENGTH);
  return [
    { name: 'pass 0, 1 GiB in order', length: PASS0_PAGES, pages: pass0 },
    { name: 'scattered, 100000 of 32 GiB', length: SCATTERED_LENGTH, pages: scattered },
  ];
}

async function main(): Promise<void> {
  const hasher = await createPageHasher();
  const page = randomBytes(4096);
  const hashes: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = performance.now();
    for (let i = 0; i < 20_000; i++) hasher.hashPage(page);
    hashes.push((performance.now() - start) * 1e6 / 20_000);
  }
  console.log(`xxh64 of a 4 KiB page: ${median(hashes).toFixed(0)} ns`);
  for (const { name, length, pages } of workloads()) {
    const { set, get } = timeTable((n) => new PageHashTable(n, 0n), length, pages);
    console.log(`${name}: set ${set.toFixed(1)} ns, get ${get.toFixed(1)} ns`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
