/**
 * `npm run bench:pause-hook`: what the pause hook costs in the pause, spawned at the pause (runHook) and
 * prepared ahead (prepareHook, what `ferry migrate --pause-cmd` does), interleaved in one run, from a
 * process holding FERRY_BENCH_HOOK_RSS (default 1GiB) of touched memory as a large migration's source
 * does: fork() copies the page tables of the process that spawns, so the spawn grows with its memory.
 * The command is `kill -CONT <this process>`, a no-op standing in for `kill -STOP <workload>`.
 */
import { loadavg } from 'node:os';
import { prepareHook, runHook } from '@ferry/serve';

const RUNS = 15;
const rssBytes = Number(process.env['FERRY_BENCH_HOOK_RSS'] ?? 2 ** 30);
const held = Buffer.alloc(rssBytes, 1); // alloc fills it: every page is touched and mapped
const command = `kill -CONT ${process.pid}`;
const hook = { name: 'pause', command, timeoutMs: 10_000 };
const median = (values: number[]): number => values.sort((a, b) => a - b)[values.length >> 1]!;

const spawned: number[] = [];
const prepared: number[] = [];
for (let i = 0; i < RUNS; i++) {
  let started = performance.now();
  await runHook(hook);
  spawned.push(performance.now() - started);
  const ready = prepareHook(hook);
  await new Promise((resolve) => setTimeout(resolve, 20)); // the drain before the pause, in ferry
  started = performance.now();
  await ready.run();
  prepared.push(performance.now() - started);
}
const a = median(spawned);
const b = median(prepared);
console.log(`process memory ${(held.length / 2 ** 20).toFixed(0)} MiB, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}, median of ${RUNS}`);
console.log(`pause hook spawned at the pause: ${a.toFixed(1)} ms; prepared ahead: ${b.toFixed(1)} ms; ratio ${(b / a).toFixed(2)}`);
