/**
 * The first paused (every-core) scan of a fresh scan pool against its later ones: the final pass of a
 * migration is its pool's first, so whatever is cold then is paid inside the pause. Per trial and build
 * (this one, and FERRY_BENCH_PAUSE_BASELINE's when set, in alternating order): a fresh pool, two plain
 * passes (pass 0 and one pre-copy pass), then three paused scans of the unchanged image, each timed by
 * the wall clock and by the CPU of this process's threads other than the main one (the scan threads,
 * V8's compiler and GC threads; /proc schedstat, so the machine's load moves it little).
 *   node --import tsx bench/first-paused-scan.ts   FERRY_BENCH_FIRST_SIZE (default 256MiB), FERRY_BENCH_FIRST_TRIALS (default 8)
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ScanPool } from '@ferry/pages';
import { fillImage } from '@ferry/workload';
import { parseSize } from '../cli/src/units.js';
import { threadTimes } from './meter.js';

const SIZE = parseSize(process.env['FERRY_BENCH_FIRST_SIZE'] ?? '256MiB', 'FERRY_BENCH_FIRST_SIZE');
const TRIALS = Number(process.env['FERRY_BENCH_FIRST_TRIALS'] ?? '8');
const BASELINE = process.env['FERRY_BENCH_PAUSE_BASELINE'];
const builds: Array<{ name: string; Pool: typeof ScanPool }> = [{ name: 'this', Pool: ScanPool }];
if (BASELINE) {
  const { ScanPool: Pool } = (await import(pathToFileURL(join(BASELINE, 'packages/pages/dist/index.js')).href)) as { ScanPool: typeof ScanPool };
  builds.push({ name: 'baseline', Pool });
}

/** CPU and runnable-waiting nanoseconds of every thread of this process but the main one. */
function offMainThreads(): { cpu: number; wait: number } {
  let cpu = 0;
  let wait = 0;
  for (const t of threadTimes(process.pid).values()) {
    if (t.name === 'main') continue;
    cpu += t.cpuNs;
    wait += t.waitNs;
  }
  return { cpu, wait };
}

interface Scan {
  readonly wallMs: number;
  readonly cpuMs: number;
}

async function trial(Pool: typeof ScanPool, image: string): Promise<Scan[]> {
  const pool = await Pool.start({ imagePath: image, pageSize: 4096, workers: Math.max(1, availableParallelism() - 1), deltaCacheBytes: 0, delta: false, compress: 'never' });
  try {
    for (const pass of [0, 1]) await pool.scan(pass, async (batch) => batch.release());
    const scans: Scan[] = [];
    for (const pass of [2, 3, 4]) {
      const before = offMainThreads();
      const started = performance.now();
      const stats = await pool.scan(pass, async (batch) => batch.release(), { everyCore: true });
      if (stats.dirtyPages !== 0) throw new Error(`the unchanged image had ${stats.dirtyPages} dirty pages`);
      scans.push({ wallMs: performance.now() - started, cpuMs: (offMainThreads().cpu - before.cpu) / 1e6 });
    }
    return scans;
  } finally {
    await pool.close();
  }
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ferry-bench-first-'));
try {
  const image = join(work, 'vm.ram');
  await fillImage(image, SIZE, { seed: 1 });
  const results = new Map<string, Scan[][]>(builds.map((b) => [b.name, []]));
  for (let n = 0; n < TRIALS; n++) {
    const order = n % 2 === 0 ? builds : [...builds].reverse();
    for (const build of order) results.get(build.name)!.push(await trial(build.Pool, image));
  }
  console.log(`${SIZE / 2 ** 20} MiB, ${TRIALS} trials, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log('| build | 1st paused scan: CPU ms (median) | 2nd | 3rd | 1st / 3rd, CPU | 1st paused scan: wall ms (median) | 3rd, wall |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [name, trials] of results) {
    const cpu = [0, 1, 2].map((k) => median(trials.map((t) => t[k]!.cpuMs)));
    const wall = [0, 2].map((k) => median(trials.map((t) => t[k]!.wallMs)));
    const perTrial = median(trials.map((t) => t[0]!.cpuMs / t[2]!.cpuMs));
    console.log(`| ${name} | ${cpu[0]!.toFixed(0)} | ${cpu[1]!.toFixed(0)} | ${cpu[2]!.toFixed(0)} | ${perTrial.toFixed(2)} | ${wall[0]!.toFixed(0)} | ${wall[1]!.toFixed(0)} |`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
