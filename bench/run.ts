/**
 * `npm run bench`: ferry's speed and footprint, each measured in this one run and printed beside its
 * reference. The machine is shared: only ratios within a run mean anything.
 *   - floors: raw TCP (one buffer, discarded) and the fair floor (file -> TCP -> file by a plain pair)
 *   - a cold image of non-zero pages (half text-like, half random), default flags: pass-0 rate as a ratio
 *     of the floor (goal >= 0.7), CPU per GiB of each agent in pass 0 against the floor's sender and
 *     receiver (goal <= 1.3x), peak RSS of
 *     each against its budget; then --compress never and LZ4 on 2 workers for comparison
 *     and default flags again with a glibc top pad (see the row), to show what malloc churn costs;
 *     --no-pacing beside the default (paced) row, to show pacing costs loopback nothing
 *   - the pause under the demo's web workload at 512 MiB and 2 GiB against its floor (goal <= 1.5x)
 *     and each pause cut into its parts (the summary's pauseTimeline), one row per size, one column per part
 * Under the default-flags row, where pass 0's wall time went: each agent's main thread by stage (the
 * source's pass-end `stages`, the target's "pass applied" log) and each agent's threads from /proc (busy,
 * waiting for a CPU, idle).
 * FERRY_BENCH_SIZE (default 1GiB) sizes the cold image; FERRY_BENCH_PAUSE_SIZES (default 512MiB,2GiB);
 * FERRY_BENCH_ROWS picks groups of rows (default all): pass0 (the floors and default flags), variants
 * (top pad, --compress never, LZ4), pause.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fillImage } from '@ferry/workload';
import { parseSize } from '../cli/src/units.js';
import { startWorkload, TeardownList } from '../test/helpers/ferry.js';
import { fileCopyFloor, hashRatePerCore, loopbackRttMs, rawTcpThroughput } from './floors.js';
import { writeNonZeroImage } from './images.js';
import { measuredMigration, type MeasuredMigration } from './measured-migration.js';
import { pausePartsTable, pauseStepsOf, type PauseParts } from './pause-parts.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const SIZE = parseSize(process.env['FERRY_BENCH_SIZE'] ?? '1GiB', 'FERRY_BENCH_SIZE');
const PAUSE_SIZES = (process.env['FERRY_BENCH_PAUSE_SIZES'] ?? '512MiB,2GiB').split(',').map((size) => parseSize(size, 'FERRY_BENCH_PAUSE_SIZES'));
const CORES = availableParallelism();
/** ferry migrate's default --workers. */
const WORKERS = Math.max(1, CORES - 1);
const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ferry-bench-'));
const rows: string[][] = [];
const GROUPS = new Set((process.env['FERRY_BENCH_ROWS'] ?? 'pass0,variants,pause').split(','));
for (const group of GROUPS) if (!['pass0', 'variants', 'pause'].includes(group)) throw new Error(`FERRY_BENCH_ROWS: ${group} is not one of pass0, variants, pause`);
/** Each pause's parts, by image size. */
const timelines: PauseParts[] = [];


const gbps = (bytesPerSecond: number): string => `${(bytesPerSecond / 1e9).toFixed(2)} GB/s`;
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(0)} MiB`;
const cores = (cpu: { user: number; system: number }): number => cpu.user + cpu.system;
const perGiB = (cpu: { user: number; system: number }, size: number): string =>
  `${(cores(cpu) * GiB / size).toFixed(2)} (user ${(cpu.user * GiB / size).toFixed(2)} sys ${(cpu.system * GiB / size).toFixed(2)})`;

async function cold(): Promise<void> {
  const image = join(work, 'nonzero.img');
  writeNonZeroImage(image, SIZE);
  const tcp = await rawTcpThroughput(SIZE);
  const floor = await fileCopyFloor(image, join(work, 'floor.out'), SIZE);
  rmSync(join(work, 'floor.out'));
  rows.push(['raw TCP, one buffer, discarded', gbps(tcp), '', '']);
  rows.push(['floor: file -> TCP -> file', gbps(floor.rate), `CPU/GiB send ${(floor.senderCpu * GiB / SIZE).toFixed(2)} recv ${(floor.receiverCpu * GiB / SIZE).toFixed(2)}`, '']);
  const migrate = async (label: string, args: string[]): Promise<MeasuredMigration> => {
    const scope = new TeardownList();
    try {
      return await measuredMigration(scope, join(work, label), image, SIZE, ['--id', label, ...args]);
    } finally {
      await scope.run();
      rmSync(join(work, label), { recursive: true, force: true });
    }
  };
  const defaults = await migrate('cold-default', []);
  rows.push([`ferry pass 0, default flags`, gbps(defaults.pass0Rate), `floor ${gbps(floor.rate)}`, `${(defaults.pass0Rate / floor.rate).toFixed(2)}x (goal >= 0.7)`]);
  // Each agent against its counterpart in the floor: the plain sender reads and sends, the receiver writes.
  rows.push(['  source CPU core-s/GiB, pass 0', perGiB(defaults.sourceCpu, SIZE), `floor sender ${(floor.senderCpu * GiB / SIZE).toFixed(2)}`, `${(cores(defaults.sourceCpu) / floor.senderCpu).toFixed(2)}x (goal <= 1.3)`]);
  rows.push(['  target CPU core-s/GiB, pass 0', perGiB(defaults.targetCpu, SIZE), `floor receiver ${(floor.receiverCpu * GiB / SIZE).toFixed(2)}`, `${(cores(defaults.targetCpu) / floor.receiverCpu).toFixed(2)}x (goal <= 1.3)`]);
  const sourceBudget = 64 * MiB + 0.02 * SIZE + defaults.deltaCacheBytes;
  rows.push(['  source peak RSS', mib(defaults.sourcePeakRss), `budget ${mib(sourceBudget)} (cache ${mib(defaults.deltaCacheBytes)})`, `${(defaults.sourcePeakRss / sourceBudget).toFixed(2)}x (goal <= 1)`]);
  const targetBudget = 64 * MiB + 0.02 * SIZE;
  rows.push(['  target peak RSS', mib(defaults.targetPeakRss), `budget ${mib(targetBudget)}`, `${(defaults.targetPeakRss / targetBudget).toFixed(2)}x (goal <= 1)`]);
  stageRows(defaults);
  // Pacing is on by default; on loopback it must cost pass 0 nothing. The same image unpaced, in the same run.
  const unpaced = await migrate('cold-no-pacing', ['--no-pacing']);
  rows.push([`ferry pass 0, --no-pacing`, gbps(unpaced.pass0Rate), `floor ${gbps(floor.rate)}`, `${(unpaced.pass0Rate / floor.rate).toFixed(2)}x (paced ${(defaults.pass0Rate / floor.rate).toFixed(2)}x)`]);
  if (!GROUPS.has('variants')) return rmSync(image);
  // Same flags, both agents started with a 32 MiB glibc top pad: Node allocates a fresh buffer per 64 KiB
  // socket read (and the source's ws one per message it frames); freed together at each GC, glibc trims
  // them back to the kernel and the next ones page-fault and are zeroed again. The pad keeps that memory
  // in the heap.
  const padded = await withEnv('GLIBC_TUNABLES', GLIBC_TOP_PAD, () => migrate('cold-top-pad', []));
  rows.push([`ferry pass 0, glibc top_pad 32 MiB`, gbps(padded.pass0Rate), `floor ${gbps(floor.rate)}`, `${(padded.pass0Rate / floor.rate).toFixed(2)}x`]);
  rows.push(['  source CPU core-s/GiB, pass 0', perGiB(padded.sourceCpu, SIZE), `RSS ${mib(padded.sourcePeakRss)}`, '']);
  rows.push(['  target CPU core-s/GiB, pass 0', perGiB(padded.targetCpu, SIZE), `RSS ${mib(padded.targetPeakRss)}`, '']);
  const never = await migrate('cold-never', ['--compress', 'never']);
  rows.push(['ferry pass 0, --compress never', gbps(never.pass0Rate), `floor ${gbps(floor.rate)}`, `${(never.pass0Rate / floor.rate).toFixed(2)}x`]);
  const lz4 = await migrate('cold-lz4', ['--compress', 'always', '--workers', '2']);
  rows.push(['ferry pass 0, LZ4, 2 workers', gbps(lz4.pass0Rate), `wire ${(lz4.pass0Bytes / SIZE).toFixed(2)} of image`, `${(lz4.pass0Rate / floor.rate).toFixed(2)}x of floor`]);
  rmSync(image);
}

const ms = (value: unknown): string => `${Math.round(Number(value ?? 0))}`;
const split = (t: { cpu: number; wait: number }, wallS: number): string =>
  `busy ${Math.round(t.cpu * 1000)} runq ${Math.round(t.wait * 1000)} idle ${Math.round(Math.max(0, wallS - t.cpu - t.wait) * 1000)}`;

/** Where pass 0's wall time went, in ms: each agent's main thread by stage, then its threads. */
function stageRows(run: MeasuredMigration): void {
  const { source, target, sourceThreads, targetThreads } = run.stages;
  const wallS = Number(run.events.find((e) => e['event'] === 'pass-end' && e['pass'] === 0)!['durationMs']) / 1000;
  rows.push([`  pass 0 wall ${Math.round(wallS * 1000)} ms`, 'ms of the pass', '', '']);
  rows.push(['  source main: scan wait/send/drain', `${ms(source['scanWaitMs'])} / ${ms(source['sendMs'])} / ${ms(source['drainWaitMs'])}`, `${source['batches']} batches, rate-limit or pacing wait ${ms(source['rateWaitMs'])}`, '']);
  rows.push(['  source main thread', split(sourceThreads.main, wallS), '', '']);
  rows.push(['  source busiest other (scan)', split(sourceThreads.busiest, wallS), `${sourceThreads.rest.threads} more threads busy ${Math.round(sourceThreads.rest.cpu * 1000)}`, '']);
  rows.push(['  target main thread', split(targetThreads.main, wallS), '', '']);
  rows.push(['  target busiest other', split(targetThreads.busiest, wallS), `${targetThreads.rest.threads} more threads busy ${Math.round(targetThreads.rest.cpu * 1000)}`, '']);
  if (!target) return void rows.push(['  target stages', 'no "pass applied" line', '', '']);
  rows.push([`  target main, own pass ${ms(target['wallMs'])}`, `busy ${ms(target['busyMs'])} runq ${ms(target['runQueueMs'])} idle ${ms(target['idleMs'])}`, `${target['messages']} messages`, '']);
  const share = (key: string): string => `${Math.round((100 * Number(target[key])) / Number(target['handleMs']))}%`;
  rows.push(['  target handling messages (wall)', `${ms(target['handleMs'])}`, 'includes preemption: see run queue', '']);
  rows.push(['  target handle: decode/write/hash', `${share('decodeMs')} / ${share('writeMs')} / ${share('hashMs')}`, `other ${share('otherHandleMs')} (scavenges, ACKs)`, '']);
  rows.push(['  target GC, pass 0', `${target['gcCount']} collections, ${ms(target['gcMs'])} ms`, `${(Number(target['gcCount']) * GiB / SIZE).toFixed(0)} per GiB`, '']);
}

const GLIBC_TOP_PAD = 'glibc.malloc.top_pad=33554432';

/** Runs `body` with an environment variable set for the processes it spawns. */
async function withEnv<T>(name: string, value: string, body: () => Promise<T>): Promise<T> {
  const before = process.env[name];
  process.env[name] = value;
  try {
    return await body();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

/** The pause of a migration under the demo's web workload, against image / (hash rate x cores) + final bytes / bandwidth + RTT. */
async function pause(size: number, hashRate: number, rttMs: number): Promise<void> {
  const scope = new TeardownList();
  const dir = join(work, `pause-${size}`);
  try {
    const image = join(work, `live-${size}.img`);
    await fillImage(image, size, { seed: 1 });
    scope.teardown(() => rmSync(image, { force: true }));
    const workload = await startWorkload(scope, image, size, 'web', '8MiB/s');
    const run = await measuredMigration(scope, dir, image, size, ['--id', `pause-${size}`,
      '--pause-cmd', `kill -STOP ${workload.pid}`, '--resume-cmd', `kill -CONT ${workload.pid}`]);
    const passes = run.events.filter((e) => e['event'] === 'pass-end');
    const final = passes.find((e) => e['final'] === true)!;
    const bandwidth = Math.max(...passes.filter((e) => e['final'] === false).map((e) => Number(e['bandwidth'])));
    const scanMs = (size * 1000) / (hashRate * CORES);
    const floorMs = scanMs + (Number(final['bytesSent']) * 1000) / bandwidth + rttMs;
    const pauseMs = Number(run.summary['pauseMs']);
    timelines.push({ label: mib(size), pauseMs, steps: pauseStepsOf(run.summary) });
    rows.push([`pause, web 8MiB/s, ${mib(size)}`, `${Math.round(pauseMs)} ms`,
      `floor ${Math.round(floorMs)} ms (scan ${Math.round(scanMs)}, final ${mib(Number(final['bytesSent']))})`, `${(pauseMs / floorMs).toFixed(2)}x (goal <= 1.5)`]);
  } finally {
    await scope.run();
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  process.stderr.write(`ferry bench: cold image ${mib(SIZE)} in ${work}\n`);
  if (GROUPS.has('pass0') || GROUPS.has('variants')) await cold();
  if (GROUPS.has('pause')) {
    const hashRate = await hashRatePerCore();
    const rttMs = await loopbackRttMs();
    rows.push(['xxh64 hash rate, one core', gbps(hashRate), `loopback RTT ${rttMs.toFixed(3)} ms`, '']);
    for (const size of PAUSE_SIZES) await pause(size, hashRate, rttMs);
  }
  const widths = [34, 34, 48, 24];
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 10)).join('  ').trimEnd();
  process.stdout.write(`cores ${CORES}, ferry scan workers ${WORKERS} (default: cores-1; every core while paused)\n`);
  process.stdout.write(`${line(['benchmark', 'measured', 'reference', 'ratio'])}\n${rows.map(line).join('\n')}\n`);
  if (timelines.length > 0) process.stdout.write(`\n${pausePartsTable(timelines)}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
