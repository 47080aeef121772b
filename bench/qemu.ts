/**
 * `npm run bench:qemu`: the test guest (TCG, 256 MiB RAM in /dev/shm, memtouch rewriting 2000 pages/s
 * of 64 MiB) migrated over loopback by QEMU's own `migrate` (plain and xbzrle) and by ferry, side by side:
 * total time, downtime, bytes sent, and whether the guest really continued on the target.
 *
 * QEMU 7.2 (Debian 12) loses dirty pages in its own live migration under TCG (fixed in 9.0), so the
 * native rows use QEMU 10 from bookworm-backports, downloaded with apt-get into .cache/qemu10 (a private
 * apt state under .cache/apt: the system's sources are not touched). About 2 minutes.
 * FERRY_BENCH_QEMU_RATE=N: pages/s the guest rewrites (default 2000); FERRY_BENCH_QEMU72_NATIVE=1 adds
 * QEMU 7.2's own migration (affected by the TCG dirty-bitmap bug) as a last row.
 * Then the disk rows (bench/qemu-disk.ts, about 10 more minutes); FERRY_BENCH_QEMU_DISK=0 skips them,
 * FERRY_BENCH_QEMU_RAM=0 runs only them (FERRY_BENCH_QEMU_DISK_ROWS=ferry,wan picks rows by label words).
 * `--wan RATE,DELAY` (e.g. `-- --wan 100mbit,20ms`) runs only the WAN table instead (bench/qemu-wan.ts).
 */
import { QmpClient, waitForMigration, type MigrationInfo, type QmpEvent } from '@ferry/qemu';
import { runMigrate } from '../test/helpers/ferry.js';
import { Cleanup, freePort, judgeGuest, pauseParts, qemu10 } from './qemu-common.js';
import { diskBench } from './qemu-disk.js';
import { parseWan, wanBench } from './qemu-wan.js';
import {
  buildGuest, QemuScratch, qemuMissing, readHeartbeats, spawnQemu, startQemuTarget, startSourceQemu, type GuestOptions,
} from '../test/helpers/qemu.js';

const BANDWIDTH = 10 * 2 ** 30; // lift QEMU's default bandwidth cap: loopback is the limit, as for ferry

interface Row {
  readonly run: string;
  readonly totalMs?: number;
  readonly downtime?: string;
  readonly bytes?: number;
  readonly guest: string;
}

/** QEMU's own live migration over TCP loopback, source running throughout. */
async function nativeRun(label: string, guest: GuestOptions, xbzrle: boolean): Promise<Row> {
  const cleanup = new Cleanup();
  try {
    const scratch = new QemuScratch(cleanup, 'ferry-bench-qemu-');
    const source = await startSourceQemu(scratch, guest);
    const target = spawnQemu(scratch, guest, 'target', ['-incoming', 'defer']);
    const src = await QmpClient.connect(source.qmpPath, { timeoutMs: 10_000 });
    const dst = await QmpClient.connect(target.qmpPath, { timeoutMs: 10_000 });
    cleanup.teardown(() => Promise.all([src.close(), dst.close()]));
    const capabilities = [{ capability: 'xbzrle', state: xbzrle }, { capability: 'events', state: true }];
    await src.execute('migrate-set-capabilities', { capabilities });
    await dst.execute('migrate-set-capabilities', { capabilities });
    await src.execute('migrate-set-parameters', { 'max-bandwidth': BANDWIDTH });
    const stopped = src.waitForEvent('STOP', undefined, 300_000);
    const resumed = dst.waitForEvent('RESUME', undefined, 300_000);
    for (const wait of [stopped, resumed]) wait.catch(() => undefined); // awaited below, only on success
    const port = await freePort();
    await dst.execute('migrate-incoming', { uri: `tcp:127.0.0.1:${port}` });
    await src.execute('migrate', { uri: `tcp:127.0.0.1:${port}` });
    const info: MigrationInfo = await waitForMigration(src, 300_000);
    const [stop, resume] = (await Promise.all([stopped, resumed])) as [QmpEvent, QmpEvent];
    const lastSource = readHeartbeats(source.serialPath).at(-1);
    const guestVerdict = await judgeGuest(lastSource, target.serialPath, target.exited);
    const stopToRun = Math.round((resume.timestamp - stop.timestamp) * 1000);
    const xb = xbzrle ? ` (xbzrle ${info['xbzrle-cache']?.bytes ?? 0} B)` : '';
    return { run: label, totalMs: info['total-time'] ?? 0, downtime: `${info.downtime ?? '?'} (STOP→RESUME ${stopToRun})${xb}`, bytes: info.ram?.transferred ?? 0, guest: guestVerdict };
  } catch (error) {
    return { run: label, guest: `FAILED: ${(error as Error).message.slice(0, 200)}` };
  } finally {
    await cleanup.run();
  }
}

/** ferry: pre-copy of the RAM file, then stop + device state (x-ignore-shared), target QEMU started on commit. */
async function ferryRun(label: string, guest: GuestOptions): Promise<Row> {
  const cleanup = new Cleanup();
  try {
    const scratch = new QemuScratch(cleanup, 'ferry-bench-qemu-');
    const source = await startSourceQemu(scratch, guest);
    const target = await startQemuTarget(cleanup, scratch, guest);
    const seen: Array<{ at: number; event: Record<string, unknown> }> = [];
    const run = await runMigrate(cleanup, ['--to', target.url, '--image', `ram=${source.ramPath}`, '--qmp', source.qmpPath], (event) =>
      seen.push({ at: performance.now(), event }));
    const s = run.summary;
    notes.push(`${label}: ${breakdown(seen)}${pauseParts(s['pauseTimeline'])}`);
    if (run.code !== 0) return { run: label, guest: `FAILED: ferry migrate exited ${run.code}: ${run.stderr.slice(-200)}` };
    const lastSource = readHeartbeats(source.serialPath).at(-1);
    const guestVerdict = await judgeGuest(lastSource, target.serialPath, new Promise(() => {}));
    return { run: label, totalMs: Number(s['totalMs']), downtime: `${String(s['pauseMs'])} (stop→RESUMED, ${String(s['passes'])} passes)`, bytes: Number(s['bytesSent']), guest: guestVerdict };
  } catch (error) {
    return { run: label, guest: `FAILED: ${(error as Error).message.slice(0, 200)}` };
  } finally {
    await cleanup.run();
  }
}

const notes: string[] = [];

/** Where ferry's time went: each pass (MiB, ms) and the pause split at the events that end its steps. */
function breakdown(seen: Array<{ at: number; event: Record<string, unknown> }>): string {
  const passes = seen
    .filter((s) => s.event['event'] === 'pass-end')
    .map((s) => `${(Number(s.event['bytesSent'] ?? 0) / 2 ** 20).toFixed(1)}MiB/${Math.round(Number(s.event['durationMs'] ?? 0))}ms${s.event['final'] === true ? ' (final)' : ''}`);
  const paused = seen.find((s) => s.event['event'] === 'paused')?.at;
  const steps = ['pass-end', 'state', 'commit-ready', 'resumed']
    .map((name) => [name, seen.filter((s) => s.event['event'] === name).at(-1)?.at] as const)
    .filter((step): step is readonly [string, number] => step[1] !== undefined && paused !== undefined && step[1] >= paused)
    .map(([name, at]) => `${name === 'pass-end' ? 'final pass' : name} +${Math.round(at - paused!)}ms`);
  return `passes ${passes.join(', ')}; pause: ${steps.join(', ')}`;
}

function printTable(rows: Row[]): void {
  const header = ['run', 'total ms', 'downtime ms', 'bytes sent', 'guest on the target'];
  const cells = rows.map((r) => [r.run, r.totalMs === undefined ? '-' : String(r.totalMs), r.downtime ?? '-', r.bytes === undefined ? '-' : `${(r.bytes / 2 ** 20).toFixed(1)} MiB`, r.guest]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const c of cells) console.log(line(c));
}

async function main(): Promise<void> {
  const missing = qemuMissing();
  if (missing !== undefined) {
    console.log(`bench:qemu: ${missing}`);
    process.exitCode = 1;
    return;
  }
  const rate = Number(process.env['FERRY_BENCH_QEMU_RATE'] ?? 2000);
  const base: GuestOptions = { guest: buildGuest(), ramMiB: 256, touchMiB: 64, rate, sweep: 4 };
  const q10 = qemu10();
  const wanAt = process.argv.indexOf('--wan');
  if (wanAt >= 0) {
    if (!('argv' in q10)) throw new Error(`--wan compares with QEMU 10, which cannot run here: ${q10.reason}`);
    await wanBench(base, q10.argv, parseWan(process.argv[wanAt + 1] ?? ''));
    return;
  }
  if (process.env['FERRY_BENCH_QEMU_RAM'] === '0') return diskRows(base, q10);
  const rows: Row[] = [];
  if ('argv' in q10) {
    const guest10: GuestOptions = { ...base, qemu: q10.argv };
    rows.push(await nativeRun('QEMU 10 migrate (tcp)', guest10, false));
    rows.push(await nativeRun('QEMU 10 migrate + xbzrle', guest10, true));
    rows.push(await ferryRun('ferry, QEMU 10', guest10));
  } else {
    console.log(`QEMU 10 cannot run here, so no native rows: ${q10.reason}`);
  }
  rows.push(await ferryRun('ferry, QEMU 7.2', base));
  if (process.env['FERRY_BENCH_QEMU72_NATIVE'] === '1') rows.push(await nativeRun('QEMU 7.2 migrate (tcp, TCG bug)', base, false));
  console.log(`\nGuest: 256 MiB RAM file in /dev/shm, TCG, memtouch rewriting ${rate} pages/s (${((rate * 4096) / 1e6).toFixed(1)} MB/s) of 64 MiB; loopback.`);
  console.log('QEMU: total-time, downtime and ram.transferred from query-migrate (max-bandwidth 10 GiB/s); STOP→RESUME from QMP event timestamps.');
  console.log("ferry: totalMs, pauseMs (source stop until the target reports its QEMU running) and bytesSent from `ferry migrate --json`.\n");
  printTable(rows);
  if (notes.length > 0) console.log(`\n${notes.join('\n')}`);
  if (process.env['FERRY_BENCH_QEMU_DISK'] !== '0') await diskRows(base, q10);
}

async function diskRows(base: GuestOptions, q10: ReturnType<typeof qemu10>): Promise<void> {
  console.log('\nDisk rows:');
  await diskBench(base, 'argv' in q10 ? q10.argv : undefined, () => {
    const cleanup = new Cleanup();
    return { cleanup, run: () => cleanup.run() };
  });
}

await main();
