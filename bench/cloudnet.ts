/**
 * `npm run bench:cloudnet`: the seed's table. CloudNet (Wood et al., VEE 2011) reports what its
 * optimisations save against Xen's default live migration, as ratios of data sent, total time and pause.
 * Here ferry's own workload profiles (256 MiB image) go through `ferry wan-proxy` at 100 Mbit/s and 20 ms
 * each way, twice each: ferry's defaults (smart stop, XOR deltas, LZ4 when the link is the bottleneck)
 * against the Xen rule with no deltas and no LZ4 (`--policy xen --no-delta --compress never`).
 * The two runs of a row go one after the other, each with its own writer and emulated link. (Running
 * them side by side was tried: the run that stops first pauses while the other still loads the machine,
 * and pauses are mostly scan time, so that biases the pause ratio against it.) One run per cell: ratios
 * printed beside CloudNet's; the goal is every ratio at or below CloudNet's and no pause ratio above
 * 1.0x. On a shared, loaded host the pause ratio follows the load at the moment of each pause. About
 * 4-6 minutes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fillImage } from '@ferry/workload';
import { FERRY, runMigrate, scratchDir, startTarget, startWorkload, TeardownList, type Teardown } from '../test/helpers/ferry.js';

const SIZE = 256 * 2 ** 20;
const LINK = { rate: '100mbit', delayMs: 20 };

interface Workload {
  readonly profile: 'web' | 'compile' | 'jvm';
  readonly rate: string;
  readonly cloudnet: string;
  /** CloudNet's data, total time and pause ratios for the matching workload (Xen default -> CloudNet). */
  readonly ratios: readonly [number, number, number];
}

const WORKLOADS: readonly Workload[] = [
  { profile: 'web', rate: '2MiB/s', cloudnet: 'TPC-W', ratios: [0.60, 0.58, 0.62] },
  { profile: 'compile', rate: '6MiB/s', cloudnet: 'kernel compile', ratios: [0.73, 0.76, 0.59] },
  { profile: 'jvm', rate: '12MiB/s', cloudnet: 'SPECjbb', ratios: [0.33, 0.31, 0.83] },
];

const XEN_FLAGS = ['--policy', 'xen', '--no-delta', '--compress', 'never'];

interface Outcome {
  readonly bytesSent: number;
  readonly totalMs: number;
  readonly pauseMs: number;
  readonly passes: number;
  readonly stopReason: string;
}

/** `ferry wan-proxy` in front of `targetUrl`; resolves with the URL to migrate to. */
async function startWanProxy(scope: Teardown, targetUrl: string): Promise<string> {
  const target = new URL(targetUrl);
  const child: ChildProcess = spawn(process.execPath, [FERRY, 'wan-proxy', '--listen', '127.0.0.1:0', '--to', `${target.hostname}:${target.port}`,
    '--rate', LINK.rate, '--delay', String(LINK.delayMs), '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
  scope.teardown(() => child.kill('SIGTERM'));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = JSON.parse(text) as Record<string, unknown>;
      if (line['event'] === 'listening') resolve(Number(line['port']));
    });
    child.once('exit', (code) => reject(new Error(`ferry wan-proxy exited with ${code}`)));
  });
  return `ws://127.0.0.1:${port}`;
}

async function migrateUnderLoad(workload: Workload, label: string, flags: readonly string[]): Promise<Outcome> {
  const scope = new TeardownList();
  try {
    const dir = scratchDir(scope, 'ferry-cloudnet-');
    const image = join(dir, 'vm.img');
    await fillImage(image, SIZE, { seed: 7 });
    const writer = await startWorkload(scope, image, SIZE, workload.profile, workload.rate);
    const target = await startTarget(scope, join(dir, 'target'));
    const url = await startWanProxy(scope, target.url);
    const id = `cloudnet-${workload.profile}-${label}`;
    const run = await runMigrate(scope, ['--to', url, '--id', id, '--image', `ram=${image}`, ...flags,
      '--pause-cmd', `kill -STOP ${writer.pid}`, '--resume-cmd', `kill -CONT ${writer.pid}`]);
    const summary = run.summary;
    if (summary['result'] !== 'committed') throw new Error(`${id} did not commit (exit ${run.code}): ${run.stderr.slice(-500)}`);
    return {
      bytesSent: Number(summary['bytesSent']), totalMs: Number(summary['totalMs']), pauseMs: Number(summary['pauseMs']),
      passes: Number(summary['passes']), stopReason: String(summary['stopReason'] ?? ''),
    };
  } finally {
    await scope.run();
  }
}

const ratio = (a: number, b: number): number => (b > 0 ? a / b : Infinity);
const fmt = (x: number): string => `${x.toFixed(2)}x`;

async function main(): Promise<void> {
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const workload of WORKLOADS) {
    process.stderr.write(`${workload.profile} at ${workload.rate}: Xen rule...\n`);
    const xen = await migrateUnderLoad(workload, 'xen', XEN_FLAGS);
    process.stderr.write(`${workload.profile} at ${workload.rate}: ferry defaults...\n`);
    const ferry = await migrateUnderLoad(workload, 'ferry', []);
    const measured = [ratio(ferry.bytesSent, xen.bytesSent), ratio(ferry.totalMs, xen.totalMs), ratio(ferry.pauseMs, xen.pauseMs)];
    const goal = measured.every((m, i) => m <= workload.ratios[i]!) && measured[2]! <= 1;
    rows.push([`${workload.profile} ${workload.rate}`, ...measured.map(fmt), `${workload.cloudnet} ${workload.ratios.map(fmt).join(' / ')}`, goal ? 'yes' : 'no']);
    for (const [name, o] of [['xen', xen], ['ferry', ferry]] as const) {
      notes.push(`${workload.profile} ${name}: ${(o.bytesSent / 2 ** 20).toFixed(1)} MiB, ${o.totalMs} ms, pause ${o.pauseMs} ms, ${o.passes} passes; ${o.stopReason}`);
    }
  }
  const header = ['workload (256 MiB)', 'data', 'total time', 'pause', 'CloudNet data / time / pause', 'goal met'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`ferry defaults / Xen rule (no deltas, no LZ4), each through ferry wan-proxy at ${LINK.rate}, ${LINK.delayMs} ms each way:\n`);
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
  console.log(`\n${notes.join('\n')}`);
}

await main();
