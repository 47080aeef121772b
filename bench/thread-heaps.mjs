/**
 * Preloaded into `ferry migrate` by bench/source-memory.ts (NODE_OPTIONS, so every thread of it runs this):
 * each thread writes its V8 heap, space by space, to FERRY_HEAPS_DIR/<pid>-<threadId>.json whenever its
 * physical heap size reaches a new high. Sampling costs a few microseconds every 10 ms per thread.
 * Plain JavaScript: the worker threads of the source do not run tsx's loader.
 */
import { writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { isMainThread, threadId } from 'node:worker_threads';

const dir = process.env.FERRY_HEAPS_DIR;
if (dir) {
  let highest = 0;
  setInterval(() => {
    const heap = getHeapStatistics();
    if (heap.total_physical_size <= highest) return;
    highest = heap.total_physical_size;
    const spaces = Object.fromEntries(getHeapSpaceStatistics().filter((s) => s.physical_space_size > 0).map((s) => [s.space_name, { physical: s.physical_space_size, used: s.space_used_size }]));
    writeFileSync(`${dir}/${process.pid}-${threadId}.json`, JSON.stringify({ isMainThread, physical: heap.total_physical_size, used: heap.used_heap_size, spaces }));
  }, 10).unref();
}
