/**
 * `npm run bench:pacing`: the source's pacing over an emulated WAN (ferry's wan-proxy in this process,
 * in front of a `ferry target`), under `ferry workload` writing the image. Three ways to send, interleaved
 * (each round runs them in another order, so load drifting over the run falls on each alike):
 *   - default: paced to the link the source measures
 *   - --no-pacing: as fast as the socket takes pages (the old default)
 *   - --rate-limit at 90% of the link: the user knows the link
 * One row per run: pause, total time, bytes sent, what was in flight at the pause (pacing.queuedAtPause)
 * and the rate the pacer settled on; then the medians per way and writer, and the pauses' parts.
 * The machine is shared: only ratios within one run mean anything.
 *   FERRY_BENCH_WAN (default 100mbit,20ms: rate, one-way delay), FERRY_BENCH_WAN_SIZE (default 256MiB),
 *   FERRY_BENCH_WAN_WRITERS (default 8MiB/s,16MiB/s), FERRY_BENCH_WAN_ROUNDS (default 2).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWanProxy } from '@ferry/wan';
import { fillImage } from '@ferry/workload';
import { parseDuration, parseRate, parseSize } from '../cli/src/units.js';
import { runMigrate, startTarget, startWorkload, TeardownList } from '../test/helpers/ferry.js';
import { pausePartsTable, pauseStepsOf, type PauseParts } from './pause-parts.js';

const MiB = 2 ** 20;
const [rateText = '100mbit', delayText = '20ms'] = (process.env['FERRY_BENCH_WAN'] ?? '100mbit,20ms').split(',');
const LINK = parseRate(rateText, 'FERRY_BENCH_WAN rate');
const DELAY_MS = parseDuration(delayText, 'FERRY_BENCH_WAN delay', 'ms');
const SIZE = parseSize(process.env['FERRY_BENCH_WAN_SIZE'] ?? '256MiB', 'FERRY_BENCH_WAN_SIZE');
const WRITERS = (process.env['FERRY_BENCH_WAN_WRITERS'] ?? '8MiB/s,16MiB/s').split(',');
const ROUNDS = Number(process.env['FERRY_BENCH_WAN_ROUNDS'] ?? 2);
const WAYS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['paced (default)', []],
  ['--no-pacing', ['--no-pacing']],
  ['--rate-limit 90%', ['--rate-limit', `${Math.round(LINK * 0.9)}`]],
];
const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ferry-bench-pacing-'));

interface Run {
  readonly way: string;
  readonly writer: string;
  readonly pauseMs: number;
  readonly totalMs: number;
  readonly bytesSent: number;
  readonly queuedAtPause: number | undefined;
  readonly deliveryRate: number | undefined;
  readonly parts: PauseParts;
}

async function once(way: string, args: readonly string[], writer: string, round: number): Promise<Run> {
  const scope = new TeardownList();
  const dir = join(work, `${round}-${way.replace(/\W+/g, '')}`);
  try {
    const image = join(work, 'live.img');
    await fillImage(image, SIZE, { seed: 1 });
    const target = await startTarget(scope, join(dir, 'target'));
    const proxy = await startWanProxy({ listenHost: '127.0.0.1', listenPort: 0, toHost: '127.0.0.1', toPort: Number(new URL(target.url).port), delayMs: DELAY_MS, rateBytesPerSec: LINK });
    scope.teardown(() => proxy.close());
    const workload = await startWorkload(scope, image, SIZE, 'web', writer);
    const id = `wan-${round}`;
    const run = await runMigrate(scope, ['--to', `ws://127.0.0.1:${proxy.port}`, '--id', id, '--image', `ram=${image}`,
      '--pause-cmd', `kill -STOP ${workload.pid}`, '--resume-cmd', `kill -CONT ${workload.pid}`, ...args]);
    if (run.code !== 0) throw new Error(`${way}: migrate exited ${run.code}: ${run.stderr.slice(-800)}`);
    const s = run.summary;
    const pacing = (s['pacing'] ?? {}) as { queuedAtPause?: number; deliveryRate?: number };
    const pauseMs = Number(s['pauseMs']);
    return {
      way, writer, pauseMs, totalMs: Number(s['totalMs']), bytesSent: Number(s['bytesSent']),
      queuedAtPause: pacing.queuedAtPause, deliveryRate: pacing.deliveryRate,
      parts: { label: `${way}, ${writer}`, pauseMs, steps: pauseStepsOf(s) },
    };
  } finally {
    await scope.run();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const mb = (bytes: number | undefined): string => (bytes === undefined ? '-' : `${(bytes / MiB).toFixed(1)} MiB`);
const table = (rows: readonly string[][]): string => {
  const widths = rows[0]!.map((_cell, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padStart(widths[i]!)).join('  ')).join('\n') + '\n';
};

try {
  process.stderr.write(`ferry bench:pacing: ${mb(SIZE)} image, link ${rateText} ${DELAY_MS} ms each way, writers ${WRITERS.join(', ')}, ${ROUNDS} rounds\n`);
  const runs: Run[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const writer of WRITERS) {
      // Rotate the order each round: the first, second and third slot each see every way.
      const order = WAYS.map((_w, i) => WAYS[(i + round) % WAYS.length]!);
      for (const [way, args] of order) {
        const run = await once(way, args, writer, round);
        runs.push(run);
        process.stderr.write(`  round ${round} ${writer} ${way}: pause ${run.pauseMs} ms, total ${run.totalMs} ms, ${mb(run.bytesSent)}, in flight at pause ${mb(run.queuedAtPause)}\n`);
      }
    }
  }
  const rows = [['way', 'writer', 'runs', 'pause ms', 'total ms', 'sent', 'in flight at pause', 'pacer rate']];
  for (const writer of WRITERS) {
    for (const [way] of WAYS) {
      const mine = runs.filter((r) => r.way === way && r.writer === writer);
      const rates = mine.flatMap((r) => (r.deliveryRate === undefined ? [] : [r.deliveryRate]));
      const queued = mine.flatMap((r) => (r.queuedAtPause === undefined ? [] : [r.queuedAtPause]));
      rows.push([way, writer, String(mine.length), String(Math.round(median(mine.map((r) => r.pauseMs)))),
        String(Math.round(median(mine.map((r) => r.totalMs)))), mb(median(mine.map((r) => r.bytesSent))),
        queued.length ? mb(median(queued)) : '-', rates.length ? `${(median(rates) / 1e6).toFixed(2)} MB/s` : '-']);
    }
  }
  process.stdout.write(`medians over ${ROUNDS} rounds (link ${(LINK / 1e6).toFixed(2)} MB/s):\n${table(rows)}\n`);
  process.stdout.write(pausePartsTable(runs.map((r) => r.parts)));
} finally {
  rmSync(work, { recursive: true, force: true });
}
