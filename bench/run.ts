/**
 * `npm run bench`: ferry's speed targets, each measured in this one run and printed as a ratio.
 *   1. scan+send of a 1 GiB image of non-zero pages, --compress never, vs raw TCP on loopback (goal >= 0.8)
 *   2. the same with LZ4 on 2 workers (goal >= 0.5 GB/s)
 *   3. pause time of a 1 GiB image under a live workload vs its floor (goal <= 1.5x)
 * Set FERRY_BENCH_SIZE (e.g. 256MiB) for a quicker run.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fillImage } from '@ferry/workload';
import { FERRY, ferryMigrate, gbps, rawTcpThroughput, startTargetProcess, writeNonZeroImage, type Event } from './lib.js';

const SIZE = parseSize(process.env['FERRY_BENCH_SIZE'] ?? '1GiB');
const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ferry-bench-'));
const results: Array<[string, string, string, string]> = [];

function parseSize(text: string): number {
  const m = /^(\d+)(MiB|GiB)?$/.exec(text);
  if (!m) throw new Error(`FERRY_BENCH_SIZE ${text}: use e.g. 256MiB or 1GiB`);
  return Number(m[1]) * (m[2] === 'GiB' ? 2 ** 30 : m[2] === 'MiB' ? 2 ** 20 : 1);
}

const pass0 = (events: Event[]): Event => {
  const event = events.find((e) => e['event'] === 'pass-end' && e['pass'] === 0);
  if (!event) throw new Error('no pass 0 in the migration events');
  return event;
};

async function throughput(): Promise<void> {
  const image = join(work, 'nonzero.img');
  writeNonZeroImage(image, SIZE);
  const tcp = await rawTcpThroughput(SIZE);
  const target = await startTargetProcess(join(work, 'target'));
  try {
    const never = await ferryMigrate(['--to', target.url, '--image', `ram=${image}`, '--compress', 'never', '--id', 'bench-raw', '--policy', 'xen']);
    const p0 = pass0(never.events);
    const rawRate = (SIZE * 1000) / Number(p0['durationMs']);
    results.push(['scan+send, --compress never', gbps(rawRate), `raw TCP ${gbps(tcp)}`, `${(rawRate / tcp).toFixed(2)}x (goal >= 0.8)`]);
    const lz4 = await ferryMigrate(['--to', target.url, '--image', `ram=${image}`, '--compress', 'always', '--workers', '2', '--id', 'bench-lz4', '--policy', 'xen']);
    const l0 = pass0(lz4.events);
    const lz4Rate = (SIZE * 1000) / Number(l0['durationMs']);
    results.push(['scan+send, LZ4, 2 workers', gbps(lz4Rate), `wire ${(Number(l0['bytesSent']) / SIZE).toFixed(2)} of image`, `${(lz4Rate / 0.5e9).toFixed(2)}x of 0.5 GB/s goal`]);
  } finally {
    target.stop();
    await target.exited;
    rmSync(image, { force: true });
    rmSync(join(work, 'target'), { recursive: true, force: true });
  }
}

async function pauseTime(): Promise<void> {
  const image = join(work, 'live.img');
  await fillImage(image, SIZE, { seed: 1 });
  const workload = spawn(process.execPath, [FERRY, 'workload', '--image', image, '--size', String(SIZE), '--profile', 'web', '--rate', '16MiB/s'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => createInterface({ input: workload.stdout! }).on('line', (l) => l.includes('ready') && resolve()));
  const target = await startTargetProcess(join(work, 'target'));
  try {
    const run = await ferryMigrate(['--to', target.url, '--image', `ram=${image}`, '--id', 'bench-pause',
      '--pause-cmd', `kill -STOP ${workload.pid}`, '--resume-cmd', `kill -CONT ${workload.pid}`]);
    const summary = run.events.at(-1) ?? {};
    if (summary['result'] !== 'committed') throw new Error(`pause benchmark did not commit: ${JSON.stringify(summary)}`);
    const passes = run.events.filter((e) => e['event'] === 'pass-end');
    const final = passes.find((e) => e['final'] === true)!;
    const precopy = passes.filter((e) => e['final'] === false);
    // The floor: one scan of the image (the fastest pass seen) plus the final bytes at the best rate seen.
    const scanMs = Math.min(...precopy.map((e) => Number(e['durationMs'])));
    const bandwidth = Math.max(...precopy.map((e) => Number(e['bandwidth'])));
    const floorMs = scanMs + (Number(final['bytesSent']) * 1000) / bandwidth;
    const pauseMs = Number(summary['pauseMs']);
    results.push(['pause time, live web workload', `${pauseMs} ms`, `floor ${Math.round(floorMs)} ms`, `${(pauseMs / floorMs).toFixed(2)}x (goal <= 1.5)`]);
  } finally {
    workload.kill('SIGKILL');
    target.stop();
    await target.exited;
  }
}

try {
  process.stderr.write(`ferry bench: image ${SIZE} bytes in ${work}\n`);
  await throughput();
  await pauseTime();
  const widths = [32, 14, 30, 30];
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 10)).join('  ');
  process.stdout.write(`${line(['benchmark', 'measured', 'reference', 'ratio'])}\n${results.map(line).join('\n')}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
