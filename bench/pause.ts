/**
 * `npm run bench:pause`: the pause against image size under the same writer, with dirty pages found by
 * hashing (this host's kernel keeps no soft-dirty bits). Per size, in one run:
 *   - the floor: the image read on every core with plain 1 MiB preads, nothing hashed
 *   - the every-core scan of the unchanged image on its own (ScanPool, the final pass's path), GB/s
 *   - one `ferry migrate` under the writer (SIGSTOP/SIGCONT hooks): its pause, the pause's parts as the
 *     source measured them (its summary's pauseTimeline), and the final pass's rate (pages read over its whole duration, sends included)
 *   - the pause against its own floor: the final pass's bytes over the loopback link's rate plus one round
 *     trip (goal: <= floor + 50 ms), and the source's threads over the final pass (busy, and runnable
 *     but waiting for a CPU: the machine's load)
 * Goal: the final scan at >= 0.5x of its floor. The soft-dirty
 * rows (the pause of an 8x larger image <= 1.2x) come from `npm run bench:soft-dirty`, in a guest.
 *   FERRY_BENCH_PAUSE_SIZES   image sizes (default 256MiB,1GiB,4GiB)
 *   FERRY_BENCH_PAUSE_WRITER  workload profile and rate (default web,2MiB/s)
 *   FERRY_BENCH_PAUSE_BASELINE  a built checkout of another version: its scan runs in the same rounds,
 *     and a migration by its CLI runs beside each of this version's (in alternating order)
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ScanPool } from '@ferry/pages';
import { fillImage } from '@ferry/workload';
import { parseSize } from '../cli/src/units.js';
import { FERRY, runMigrate, startTarget, startWorkload, TeardownList } from '../test/helpers/ferry.js';
import { processCost, threadsBetween, threadTimes, type ProcessCost, type ThreadTimes } from './meter.js';
import { loopbackRttMs, parallelReadRate, rawTcpThroughput, timedScan, type ScanRate } from './floors.js';
import { pausePartsTable, pauseStepsOf, type PauseStep } from './pause-parts.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const PAGE = 4096;
const GOAL = 0.5;
const SIZES = (process.env['FERRY_BENCH_PAUSE_SIZES'] ?? '256MiB,1GiB,4GiB').split(',').map((size) => parseSize(size, 'FERRY_BENCH_PAUSE_SIZES'));
const [PROFILE, RATE] = (process.env['FERRY_BENCH_PAUSE_WRITER'] ?? 'web,2MiB/s').split(',') as ['web' | 'compile' | 'jvm', string];
const CORES = availableParallelism();
const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ferry-bench-pause-'));


const gbps = (bytesPerSecond: number): string => `${(bytesPerSecond / 1e9).toFixed(2)} GB/s`;
const label = (size: number): string => (size >= GiB ? `${size / GiB} GiB` : `${size / MiB} MiB`);

interface PauseRun {
  /** Which build's CLI ran the source: 'this' or 'baseline'. */
  readonly build: string;
  readonly pauseMs: number;
  /** Bytes the final pass sent (PASS_BEGIN and its PAGES). */
  readonly finalBytes: number;
  /** The final pass's main thread, from its pass-end `stages`: waiting for the scan, and for the link (ms). */
  readonly stages: { readonly scanWaitMs: number; readonly linkMs: number };
  /** The source's threads from the final pass's begin to its end: busy and runnable-waiting seconds. */
  readonly threads: { readonly cpu: number; readonly wait: number };
  readonly method: string;
  /** The final pass: pages it read, pages it found changed, and its wall time. */
  readonly finalPagesRead: number;
  readonly finalDirtyPages: number;
  readonly finalMs: number;
  /** The source's CPU seconds from the final pass's begin to its end (as the events arrived; 10 ms ticks). */
  readonly finalCpuSeconds: number;
  /** The pause's parts, in order; they add up to `pauseMs`. */
  readonly steps: readonly PauseStep[];
}

const best = (rates: readonly ScanRate[]): ScanRate => ({ wall: Math.max(...rates.map((r) => r.wall)), cpu: Math.max(...rates.map((r) => r.cpu)) });

/** Another build's scan pool (a built checkout, e.g. of the commit before a change), scanned in the same rounds. */
const BASELINE = process.env['FERRY_BENCH_PAUSE_BASELINE'];
const BaselinePool: typeof ScanPool | undefined = BASELINE
  ? ((await import(pathToFileURL(join(BASELINE, 'packages/pages/dist/index.js')).href)) as { ScanPool: typeof ScanPool }).ScanPool
  : undefined;

interface ScanRates {
  readonly floor: ScanRate;
  readonly alone: ScanRate;
  /** The first paused scan of the fresh pool, as the final pass is the first of its migration's. */
  readonly aloneFirst: ScanRate;
  readonly baseline?: ScanRate;
  readonly baselineFirst?: ScanRate;
}

/**
 * The floor and the every-core scan of the unchanged image on its own (a pass 0 fills the table first),
 * and the baseline's when there is one, in 3 alternating rounds; the best of each.
 */
async function scanAgainstFloor(image: string, size: number): Promise<ScanRates> {
  const options = { imagePath: image, pageSize: PAGE, workers: Math.max(1, CORES - 1), deltaCacheBytes: 0, delta: false, compress: 'never' } as const;
  const pools = [await ScanPool.start(options), ...(BaselinePool ? [await BaselinePool.start(options)] : [])];
  try {
    for (const pool of pools) await pool.scan(0, async (batch) => batch.release());
    const floors: ScanRate[] = [];
    const scans: ScanRate[][] = pools.map(() => []);
    for (let round = 1; round <= 3; round++) {
      floors.push(await parallelReadRate(image, size));
      for (let k = 0; k < pools.length; k++) {
        const n = (k + round) % pools.length; // alternate which build scans first
        scans[n]!.push(await timedScan(size, async () => {
          const stats = await pools[n]!.scan(round, async (batch) => batch.release(), { everyCore: true });
          if (stats.dirtyPages !== 0) throw new Error(`the unchanged image had ${stats.dirtyPages} dirty pages`);
        }));
      }
    }
    return { floor: best(floors), alone: best(scans[0]!), aloneFirst: scans[0]![0]!, ...(scans[1] ? { baseline: best(scans[1]), baselineFirst: scans[1][0]! } : {}) };
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
  }
}

const stagesOf = (stages: Record<string, number> | undefined): PauseRun['stages'] => ({
  scanWaitMs: stages?.['scanWaitMs'] ?? NaN,
  linkMs: (stages?.['packMs'] ?? 0) + (stages?.['rateWaitMs'] ?? NaN) + (stages?.['sendMs'] ?? NaN) + (stages?.['drainWaitMs'] ?? NaN),
});

/** One migration under the writer by `build`'s CLI: its pause, its parts, and the source's CPU over the final pass. */
async function migrateUnderWriter(image: string, size: number, dir: string, build: string): Promise<PauseRun> {
  const scope = new TeardownList();
  try {
    const workload = await startWorkload(scope, image, size, PROFILE, RATE);
    const target = await startTarget(scope, join(dir, `target-${build}`));
    const cost = new Map<string, ProcessCost | undefined>();
    const threads = new Map<string, Map<string, ThreadTimes>>();
    const ferry = build === 'baseline' ? join(BASELINE!, 'cli/bin/ferry.js') : FERRY;
    const run = await runMigrate(scope, ['--to', target.url, '--id', `pause-${size}`, '--image', `ram=${image}`,
      '--pause-cmd', `kill -STOP ${workload.pid}`, '--resume-cmd', `kill -CONT ${workload.pid}`], (event, child) => {
      const name = event['final'] === true ? `final-${String(event['event'])}` : '';
      if (name !== 'final-pass-begin' && name !== 'final-pass-end') return;
      cost.set(name, processCost(child.pid!));
      threads.set(name, threadTimes(child.pid!));
    }, ferry);
    const summary = run.summary;
    if (summary['result'] !== 'committed') throw new Error(`migration did not commit: ${JSON.stringify(summary)} ${run.stderr.slice(-1500)}`);
    const final = run.events.find((e) => e['event'] === 'pass-end' && e['final'] === true)!;
    const pauseMs = Number(summary['pauseMs']);
    const finalMs = Number(final['durationMs']);
    const log = summary['dirtyLog'] as Record<string, { method: string }> | undefined;
    const split = threadsBetween(threads.get('final-pass-begin') ?? new Map(), threads.get('final-pass-end') ?? new Map());
    return {
      stages: stagesOf(final['stages'] as Record<string, number> | undefined),
      build, pauseMs, method: log?.['ram']?.method ?? '?', finalMs, steps: pauseStepsOf(summary), finalBytes: Number(final['bytesSent']),
      threads: { cpu: split.main.cpu + split.busiest.cpu + split.rest.cpu, wait: split.main.wait + split.busiest.wait + split.rest.wait },
      finalCpuSeconds: (cost.get('final-pass-end')?.cpuSeconds ?? NaN) - (cost.get('final-pass-begin')?.cpuSeconds ?? NaN),
      finalPagesRead: Number(summary['finalPagesRead']), finalDirtyPages: Number(summary['finalDirtyPages']),
    };
  } finally {
    await scope.run();
  }
}

interface Row extends ScanRates {
  readonly size: number;
  /** This version's migration, then the baseline's when there is one. */
  readonly runs: readonly PauseRun[];
}

async function measure(size: number): Promise<Row> {
  const dir = join(work, label(size).replace(' ', ''));
  const image = join(dir, 'vm.ram');
  mkdirSync(dir, { recursive: true });
  try {
    await fillImage(image, size, { seed: 1 });
    const rates = await scanAgainstFloor(image, size);
    // The two builds' migrations back to back, which goes first alternating by size: the same load for both.
    const builds = BASELINE ? (SIZES.indexOf(size) % 2 === 0 ? ['this', 'baseline'] : ['baseline', 'this']) : ['this'];
    const runs: PauseRun[] = [];
    for (const build of builds) runs.push(await migrateUnderWriter(image, size, dir, build));
    return { size, ...rates, runs: runs.sort((a, b) => Number(b.build === 'this') - Number(a.build === 'this')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ratio = (measured: number, floor: number): string => `${(measured / floor).toFixed(2)}x (${measured / floor >= GOAL ? 'met' : 'not met'})`;
const name = (size: number, run: PauseRun): string => `${label(size)}${run.build === 'this' ? '' : ` (${run.build})`}`;
/** The final pass's rate: pages read over its whole duration, and over the source's CPU meanwhile. */
const finalRate = (run: PauseRun): ScanRate => ({ wall: (run.finalPagesRead * PAGE * 1000) / run.finalMs, cpu: (run.finalPagesRead * PAGE) / run.finalCpuSeconds });

/** The loopback link the migrations run over: its rate (bytes/s) and one round trip (ms). */
interface Link {
  readonly rate: number;
  readonly rttMs: number;
}

function mainTable(rows: readonly Row[]): string[] {
  const out = ['| image | dirty log | pause (ms) | final pass: pages read / changed, ms | final pass, wall / CPU | its main thread: waiting for the scan / for the link (ms) | source threads in it: busy / waiting for a CPU (ms) | scan alone, first / best, wall | scan alone, best, CPU | floor, wall / CPU |'];
  out.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const { size, floor, alone, aloneFirst, runs } of rows) {
    for (const run of runs) {
      const rate = finalRate(run);
      out.push(`| ${name(size, run)} | ${run.method} | ${run.pauseMs} | ${run.finalPagesRead} / ${run.finalDirtyPages}, ${Math.round(run.finalMs)} | ` +
        `${gbps(rate.wall)} / ${gbps(rate.cpu)} | ${Math.round(run.stages.scanWaitMs)} / ${run.stages.linkMs.toFixed(1)} | ${Math.round(run.threads.cpu * 1000)} / ${Math.round(run.threads.wait * 1000)} | ` +
        `${gbps(aloneFirst.wall)} / ${gbps(alone.wall)} | ${gbps(alone.cpu)} | ${gbps(floor.wall)} / ${gbps(floor.cpu)} |`);
    }
  }
  return out;
}

function ratioLines(rows: readonly Row[]): string[] {
  const out = [`ratios to the floor, wall / CPU (goal: the final scan at >= ${GOAL}x of its floor):`];
  for (const { size, floor, alone, aloneFirst, baseline, baselineFirst, runs } of rows) {
    const finals = runs.map((run) => `final pass${run.build === 'this' ? '' : ` (${run.build})`} ${ratio(finalRate(run).wall, floor.wall)} / ${ratio(finalRate(run).cpu, floor.cpu)}`);
    out.push(`  ${label(size)}: ${finals.join('; ')}; scan alone, first ${ratio(aloneFirst.wall, floor.wall)} / ${ratio(aloneFirst.cpu, floor.cpu)}, ` +
      `best ${ratio(alone.wall, floor.wall)} / ${ratio(alone.cpu, floor.cpu)}` +
      (baseline && baselineFirst ? `; baseline's scan alone, first ${ratio(baselineFirst.wall, floor.wall)} / ${ratio(baselineFirst.cpu, floor.cpu)}, ` +
        `best ${ratio(baseline.wall, floor.wall)} / ${ratio(baseline.cpu, floor.cpu)}` : ''));
  }
  return out;
}

/** The pause against its floor: the final pass's bytes over the link's rate plus one round trip. */
function pauseFloorLines(rows: readonly Row[], link: Link): string[] {
  const out = [`the pause against its floor (final bytes / ${gbps(link.rate)} + RTT ${link.rttMs.toFixed(2)} ms; goal: <= floor + 50 ms):`];
  for (const { size, runs } of rows) {
    for (const run of runs) {
      const floorMs = (run.finalBytes * 1000) / link.rate + link.rttMs;
      const scanMs = run.steps.filter((s) => s.step === 'final-scan').reduce((sum, s) => sum + s.ms, 0);
      out.push(`  ${name(size, run)}: pause ${run.pauseMs} ms, floor ${floorMs.toFixed(1)} ms (${(run.finalBytes / MiB).toFixed(2)} MiB): ` +
        `${run.pauseMs <= floorMs + 50 ? 'met' : 'not met'}, ${Math.round(run.pauseMs - floorMs)} ms over; without the final scan's ${Math.round(scanMs)} ms, ${Math.round(run.pauseMs - scanMs - floorMs)} ms over`);
    }
  }
  return out;
}

function print(rows: readonly Row[], link: Link): void {
  const out: string[] = [`cores ${CORES}, writer ${PROFILE} ${RATE}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`];
  out.push(...mainTable(rows));
  out.push('', pausePartsTable(rows.flatMap(({ size, runs }) => runs.map((run) => ({ label: name(size, run), pauseMs: run.pauseMs, steps: run.steps })))).trimEnd());
  out.push('', ...ratioLines(rows), '', ...pauseFloorLines(rows, link));
  const first = rows[0]!.runs[0]!;
  for (const row of rows.slice(1)) {
    out.push(`  pause ${label(row.size)} / ${label(rows[0]!.size)}: ${(row.runs[0]!.pauseMs / first.pauseMs).toFixed(2)} (hashing grows with the image; the soft-dirty goal, <= 1.2 at 8x, is measured in a guest)`);
  }
  out.push('  soft-dirty rows: `npm run bench:soft-dirty` (Debian\'s kernel in a QEMU guest: this host\'s kernel keeps no soft-dirty bits), recorded in docs/measurements.md');
  process.stdout.write(`${out.join('\n')}\n`);
}

try {
  const link = { rate: await rawTcpThroughput(256 * MiB), rttMs: await loopbackRttMs() };
  const rows: Row[] = [];
  for (const size of SIZES) {
    process.stderr.write(`ferry bench:pause: ${label(size)}...\n`);
    rows.push(await measure(size));
  }
  print(rows, link);
} finally {
  rmSync(work, { recursive: true, force: true });
}
