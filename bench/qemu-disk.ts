/**
 * The disk rows of `npm run bench:qemu`: a guest with 256 MiB of RAM and a 1 GiB raw disk (half random
 * data, half never written) whose workload keeps writing 4 KiB blocks, moved with no shared storage
 *   - by ferry: `ferry migrate --qmp --disk vda=vda` (RAM file and disk over one connection), and
 *   - by QEMU 10's own recipe: the target exports its empty disk over NBD, the source runs
 *     `blockdev-mirror` to it with copy-mode=write-blocking, waits for READY, runs `migrate`, and
 *     cancels the mirror (`block-job-cancel`) once the migration completed,
 * over loopback and over `ferry wan-proxy` (100 Mbit/s, 20 ms each way). Bytes are counted on the
 * links (source to target), the pause is the host-observed gap between the source's last heartbeat
 * and the target's first, and the run only counts if the target guest re-reads its disk with bad=0.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { createServer } from 'node:net';
import { QmpClient, waitForMigration, type QmpEvent } from '@ferry/qemu';
import { runMigrate } from '../test/helpers/ferry.js';
import {
  QemuScratch, readDiskBeats, readHeartbeats, spawnQemu, startQemuTarget, startSourceQemu, waitForHeartbeats, type GuestOptions,
} from '../test/helpers/qemu.js';
import { CountingLink, HeartbeatClock, type WanShape } from './qemu-disk-links.js';
import { pauseTimeline } from './qemu-disk-timeline.js';

const MiB = 2 ** 20;
const DISK_BYTES = 1024 * MiB;
const WAN: WanShape = { delayMs: 20, rate: '100mbit' };
const BANDWIDTH = 10 * 2 ** 30;

export interface DiskRow {
  readonly run: string;
  readonly totalMs?: number;
  readonly pauseMs?: number | undefined;
  readonly bytes?: number;
  readonly guest: string;
  /** Where ferry's pause went. */
  readonly note?: string;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A used disk: 512 MiB of random data, then 512 MiB never written (a hole). */
function usedDisk(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = new Uint8Array(4 * MiB);
  for (let i = 0; i < 128; i++) writeSync(fd, randomFillSync(chunk));
  closeSync(fd);
  const extend = openSync(path, 'r+');
  writeSync(extend, new Uint8Array(1), 0, 1, DISK_BYTES - 1);
  closeSync(extend);
}

/** The target guest counted on and re-read its whole disk work area (two sweeps) with bad=0. */
async function judge(sourceSerial: string, targetSerial: string): Promise<string> {
  const lastSource = readHeartbeats(sourceSerial).at(-1);
  const sweeps = readDiskBeats(sourceSerial).at(-1)?.sweeps ?? 0;
  try {
    await waitForHeartbeats(targetSerial, () => (readDiskBeats(targetSerial).at(-1)?.sweeps ?? 0) >= sweeps + 2, 120_000);
  } catch (error) {
    return `FAILED: ${(error as Error).message.slice(0, 120)}`;
  }
  const beats = readHeartbeats(targetSerial);
  const disk = readDiskBeats(targetSerial);
  const bad = Math.max(0, ...beats.map((b) => b.bad));
  const diskBad = Math.max(0, ...disk.map((b) => b.bad));
  const continued = lastSource !== undefined && (beats[0]?.counter ?? 0) > lastSource.counter;
  return `${continued && bad === 0 && diskBad === 0 ? 'ok' : 'FAILED'}: HB ${lastSource?.counter ?? '?'}→${beats[0]?.counter ?? '?'}, bad=${bad}, disk bad=${diskBad}`;
}

function guestWithDisk(base: GuestOptions, scratch: QemuScratch): GuestOptions {
  const path = scratch.path('source-vda.raw');
  usedDisk(path);
  // A 20 ms heartbeat, so the gap between the last beat on the source and the first on the target times the pause to ~20 ms.
  return { ...base, heartbeatMs: 20, disk: { path, mib: 32, rate: 200, targetSnapshot: false } };
}

export async function ferryDiskRun(label: string, base: GuestOptions, wan: boolean, cleanup: Teardown): Promise<DiskRow> {
  const scratch = new QemuScratch(cleanup, 'ferry-bench-disk-');
  const guest = guestWithDisk(base, scratch);
  const source = await startSourceQemu(scratch, guest);
  const logs = { source: scratch.path('migrate.log'), target: scratch.path('target.log') };
  const target = await startQemuTarget(cleanup, scratch, guest, ['--log-level', 'info', '--log-file', logs.target]);
  const link = await CountingLink.open(Number(new URL(target.url).port), wan ? WAN : undefined);
  cleanup.teardown(() => link.close());
  const clock = new HeartbeatClock([source.serialPath, target.serialPath]);
  cleanup.teardown(() => clock.stop());
  const seen: Array<{ at: number; event: Record<string, unknown> }> = [];
  const run = await runMigrate(cleanup, ['--to', `ws://127.0.0.1:${link.port}`, '--image', `ram=${source.ramPath}`, '--qmp', source.qmpPath, '--disk', 'vda=vda', '--log-level', 'debug', '--log-file', logs.source],
    (event) => seen.push({ at: performance.now(), event }));
  if (run.code !== 0) return { run: label, guest: `FAILED: ferry migrate exited ${run.code}: ${run.stderr.slice(-200)}` };
  const verdict = await judge(source.serialPath, target.serialPath);
  const pauseMs = clock.gapMs(source.serialPath, target.serialPath); // after judge: the target guest has beaten by then
  const disks = run.summary['disks'] as Record<string, { bytesSent: number; passes: number }> | undefined;
  return {
    run: label, totalMs: Number(run.summary['totalMs']), pauseMs, bytes: link.forwardBytes,
    guest: `${verdict} (disk ${((disks?.['vda']?.bytesSent ?? 0) / MiB).toFixed(1)} MiB in ${disks?.['vda']?.passes ?? '?'} passes)`,
    note: `${label}: ${pauseBreakdown(seen)}\n    ${pauseTimeline(logs.source, logs.target).join('\n    ')}`,
  };
}

export async function qemuDiskRun(label: string, base: GuestOptions, wan: boolean, cleanup: Teardown): Promise<DiskRow> {
  const scratch = new QemuScratch(cleanup, 'ferry-bench-disk-');
  const guest = guestWithDisk(base, scratch);
  const source = await startSourceQemu(scratch, guest);
  const targetDisk = scratch.path('target-vda.raw');
  closeSync(openSync(targetDisk, 'w'));
  const extend = openSync(targetDisk, 'r+');
  writeSync(extend, new Uint8Array(1), 0, 1, DISK_BYTES - 1);
  closeSync(extend);
  const target = spawnQemu(scratch, { ...guest, disk: { ...guest.disk!, path: targetDisk } }, 'target', ['-incoming', 'defer']);
  const src = await QmpClient.connect(source.qmpPath, { timeoutMs: 10_000, commandTimeoutMs: 600_000 });
  const dst = await QmpClient.connect(target.qmpPath, { timeoutMs: 10_000, commandTimeoutMs: 600_000 });
  cleanup.teardown(() => Promise.all([src.close(), dst.close()]));
  const clock = new HeartbeatClock([source.serialPath, target.serialPath]);
  cleanup.teardown(() => clock.stop());

  const nbdPort = await freePort();
  await dst.execute('nbd-server-start', { addr: { type: 'inet', data: { host: '127.0.0.1', port: String(nbdPort) } } });
  await dst.execute('block-export-add', { type: 'nbd', id: 'vda', 'node-name': 'vda', name: 'vda', writable: true });
  const migrationPort = await freePort();
  await dst.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
  await dst.execute('migrate-incoming', { uri: `tcp:127.0.0.1:${migrationPort}` });
  const nbdLink = await CountingLink.open(nbdPort, wan ? WAN : undefined);
  const migrationLink = await CountingLink.open(migrationPort, wan ? WAN : undefined);
  cleanup.teardown(() => { nbdLink.close(); migrationLink.close(); });

  const started = performance.now();
  await src.execute('blockdev-add', { driver: 'nbd', 'node-name': 'target-vda', server: { type: 'inet', host: '127.0.0.1', port: String(nbdLink.port) }, export: 'vda' });
  const ready = src.waitForEvent('BLOCK_JOB_READY', (e) => e.data['device'] === 'mirror', 600_000);
  await src.execute('blockdev-mirror', { 'job-id': 'mirror', device: 'vda', target: 'target-vda', sync: 'full', 'copy-mode': 'write-blocking' });
  await ready;
  await src.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
  await src.execute('migrate-set-parameters', { 'max-bandwidth': BANDWIDTH });
  const resumed = dst.waitForEvent('RESUME', undefined, 600_000);
  resumed.catch(() => undefined);
  await src.execute('migrate', { uri: `tcp:127.0.0.1:${migrationLink.port}` });
  await waitForMigration(src, 600_000);
  // Cancelling a READY mirror ends it without a pivot, reported as BLOCK_JOB_COMPLETED.
  const ended = (e: QmpEvent): boolean => e.data['device'] === 'mirror';
  const cancelled = Promise.race([src.waitForEvent('BLOCK_JOB_COMPLETED', ended, 60_000), src.waitForEvent('BLOCK_JOB_CANCELLED', ended, 60_000)]);
  await src.execute('block-job-cancel', { device: 'mirror' });
  await cancelled;
  await resumed;
  const totalMs = Math.round(performance.now() - started);
  await dst.execute('nbd-server-stop');
  const verdict = await judge(source.serialPath, target.serialPath);
  const pauseMs = clock.gapMs(source.serialPath, target.serialPath);
  return { run: label, totalMs, pauseMs, bytes: nbdLink.forwardBytes + migrationLink.forwardBytes, guest: verdict };
}

/** The pause, split at the events that end its steps: final pass, device state, commit-ready, resumed. */
export function pauseBreakdown(seen: Array<{ at: number; event: Record<string, unknown> }>): string {
  const paused = seen.find((s) => s.event['event'] === 'paused');
  if (!paused) return 'never paused';
  const final = seen.find((s) => s.event['event'] === 'pass-end' && s.event['final'] === true)?.event;
  const steps = ['pass-end', 'state', 'commit-ready', 'resumed']
    .map((name) => [name, seen.filter((s) => s.event['event'] === name && s.at >= paused.at).at(-1)?.at] as const)
    .filter((step): step is readonly [string, number] => step[1] !== undefined)
    .map(([name, at]) => `${name === 'pass-end' ? 'final pass' : name} +${Math.round(at - paused.at)}ms`);
  const finalBytes = final ? `${(Number(final['bytesSent']) / MiB).toFixed(1)} MiB, ${String(final['dirtyPages'])} pages` : '?';
  const state = seen.filter((s) => s.event['event'] === 'state').map((s) => `${String(s.event['name'])} ${(Number(s.event['bytes']) / 1024).toFixed(0)} KiB`);
  return `pause after pass ${String(paused.event['pass'])} (${String(paused.event['reason'])}); final pass ${finalBytes}; state ${state.join(', ') || 'none'}; ${steps.join(', ')}`;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs the disk rows (QEMU 10's recipe only when QEMU 10 runs here) and prints their table. */
export async function diskBench(base: GuestOptions, qemu10: readonly string[] | undefined, cleanupFactory: () => { cleanup: Teardown; run: () => Promise<void> }): Promise<void> {
  const rows: DiskRow[] = [];
  const guest: GuestOptions = qemu10 ? { ...base, qemu: qemu10 } : base;
  const version = qemu10 ? 'QEMU 10' : 'QEMU 7.2';
  type Run = readonly [string, (label: string, g: GuestOptions, wan: boolean, c: Teardown) => Promise<DiskRow>, boolean];
  const runs: Run[] = [
    [`ferry --disk, ${version}, loopback`, ferryDiskRun, false],
    ...(qemu10 ? [['QEMU 10 mirror+migrate, loopback', qemuDiskRun, false] as Run] : []),
    [`ferry --disk, ${version}, 100 Mbit/s 20 ms`, ferryDiskRun, true],
    ...(qemu10 ? [['QEMU 10 mirror+migrate, 100 Mbit/s 20 ms', qemuDiskRun, true] as Run] : []),
  ];
  // FERRY_BENCH_QEMU_DISK_ROWS=ferry,loopback: only the rows whose label contains all of these words (every row when unset).
  const wanted = (process.env['FERRY_BENCH_QEMU_DISK_ROWS'] ?? '').split(',').map((w) => w.trim().toLowerCase()).filter((w) => w.length > 0);
  const chosen = runs.filter(([label]) => wanted.every((w) => label.toLowerCase().includes(w)));
  if (chosen.length === 0) throw new Error(`FERRY_BENCH_QEMU_DISK_ROWS=${wanted.join(',')} matches no row; the rows are: ${runs.map(([label]) => label).join('; ')}`);
  for (const [label, fn, wan] of chosen) {
    const { cleanup, run } = cleanupFactory();
    try {
      rows.push(await fn(label, guest, wan, cleanup));
    } catch (error) {
      rows.push({ run: label, guest: `FAILED: ${(error as Error).message.slice(0, 200)}` });
    } finally {
      await run();
    }
    console.log(`  ${JSON.stringify(rows.at(-1))}`);
  }
  console.log(`\nDisk rows: ${version}, 256 MiB RAM (memtouch ${base.rate ?? 2000} pages/s of ${base.touchMiB ?? 64} MiB) and a 1 GiB raw disk (512 MiB random, 512 MiB hole) on virtio-blk;`);
  console.log('the guest writes 200 blocks/s (0.8 MB/s) over 32 MiB of it and re-reads them. Bytes: source-to-target bytes on the links (ferry: one');
  console.log('connection; QEMU: the NBD mirror and the migration stream). Pause: the gap between the source\'s last and the target\'s first');
  console.log('heartbeat as the host saw them arrive (the guest beats every 20 ms, so up to 20 ms of it is the beat interval). QEMU total: mirror start to RESUME.\n');
  const header = ['run', 'total ms', 'pause ms', 'bytes sent', 'guest on the target'];
  const cells = rows.map((r) => [r.run, r.totalMs === undefined ? '-' : String(r.totalMs), r.pauseMs === undefined ? '-' : String(r.pauseMs), r.bytes === undefined ? '-' : `${(r.bytes / MiB).toFixed(1)} MiB`, r.guest]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const c of cells) console.log(line(c));
  for (const row of rows) if (row.note) console.log(`\n${row.note}`);
}

