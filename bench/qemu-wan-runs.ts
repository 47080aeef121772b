/**
 * One row of `npm run bench:qemu -- --wan RATE,DELAY`: the guest migrated over a `ferry wan-proxy` link
 * by QEMU 10's own `migrate` (plain, xbzrle or auto-converge, QEMU's defaults otherwise) or by ferry
 * (its defaults: `--throttle auto` duty-cycles the guest over `--qmp`). Every run has the same cap; a
 * run that has not switched over by then is cancelled (QEMU: `migrate_cancel`; ferry: `--timeout`, which
 * rolls back) and reported as not converged. Bytes are counted on the link, source to target; the
 * blackout is the gap between the source guest's last heartbeat and the target guest's first, as the
 * host saw them reach the serial logs.
 */
import { QmpClient, QmpError, queryMigrate, waitForMigration, type MigrationInfo } from '@ferry/qemu';
import { runMigrate } from '../test/helpers/ferry.js';
import {
  QemuScratch, readHeartbeats, spawnQemu, startQemuTarget, startSourceQemu, waitForHeartbeats, type GuestOptions, type RunningQemu,
} from '../test/helpers/qemu.js';
import { freePort, judgeGuest, pauseParts } from './qemu-common.js';
import { pauseBreakdown } from './qemu-disk.js';
import { CountingLink, HeartbeatClock, startWanProxy, type WanShape } from './qemu-disk-links.js';

export type QemuMode = 'plain' | 'xbzrle' | 'auto-converge';

export interface WanRow {
  readonly run: string;
  /** Pages per second the guest rewrites. */
  readonly rate: number;
  /** 'switched', 'did not converge in N s', or 'FAILED: why'. */
  readonly outcome: string;
  /** Migration start until the target guest's first heartbeat, host clock. */
  readonly totalMs?: number | undefined;
  /** Source-to-target bytes on the link. */
  readonly bytes?: number;
  readonly blackoutMs?: number | undefined;
  /** The longest gap between two source heartbeats before the switch: what the throttle cost the guest. */
  readonly stallMs?: number | undefined;
  /** Bytes that crossed the link between the source's stop and the target's resume (backlog + last pass + state). */
  readonly pauseBytes?: number | undefined;
  /** The tool's own figures (its downtime, passes, throttle). */
  readonly own: string;
  readonly guest: string;
  /** Where ferry's pause went. */
  readonly note?: string;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A run in progress: where the source connects, the byte counter and the clock on both serial logs. */
interface Watch {
  readonly port: number;
  readonly link: CountingLink;
  readonly clock: HeartbeatClock;
  readonly source: RunningQemu;
  readonly targetSerial: string;
  readonly started: number;
}

/**
 * Source → `ferry wan-proxy` → byte counter → target. The counter sits behind the proxy, where the
 * link has already paced the bytes: in front of it, its socket buffers would hold megabytes more than
 * the emulated link does, and both tools' last bytes would wait behind them.
 */
async function watch(cleanup: Teardown, toPort: number, wan: WanShape, source: RunningQemu, targetSerial: string): Promise<Watch> {
  const link = await CountingLink.open(toPort, undefined);
  cleanup.teardown(() => link.close());
  const proxy = await startWanProxy(link.port, wan);
  cleanup.teardown(() => proxy.stop());
  const clock = new HeartbeatClock([source.serialPath, targetSerial]);
  cleanup.teardown(() => clock.stop());
  return { port: proxy.port, link, clock, source, targetSerial, started: performance.now() };
}

/** Total, blackout and longest pre-switch stall from the heartbeat arrival times. */
function timings(w: Watch): Pick<WanRow, 'totalMs' | 'blackoutMs' | 'stallMs'> {
  const sourceBeats = w.clock.arrivals(w.source.serialPath).filter((b) => b.at >= w.started);
  const first = w.clock.arrivals(w.targetSerial)[0];
  let stall = 0;
  for (let i = 1; i < sourceBeats.length; i++) stall = Math.max(stall, sourceBeats[i]!.at - sourceBeats[i - 1]!.at);
  const last = sourceBeats.at(-1);
  return {
    totalMs: first ? Math.round(first.at - w.started) : undefined,
    blackoutMs: first && last ? Math.round(first.at - last.at) : undefined,
    stallMs: Math.round(stall),
  };
}

/** The source guest still counts after a cancel or rollback: the run cost it nothing lasting. */
async function sourceCarriesOn(source: RunningQemu): Promise<string> {
  const before = readHeartbeats(source.serialPath).at(-1)?.counter ?? 0;
  try {
    const beats = await waitForHeartbeats(source.serialPath, (b) => (b.at(-1)?.counter ?? 0) >= before + 25, 30_000, source.exited);
    return `source guest runs on: HB ${before}→${beats.at(-1)!.counter}, bad=${Math.max(...beats.map((b) => b.bad))}`;
  } catch (error) {
    return `FAILED: the source guest stopped after the cancel (${(error as Error).message.slice(0, 100)})`;
  }
}

/** Enough target heartbeats to span one and a half verify sweeps of the guest's workload. */
const beatsToJudge = (guest: GuestOptions): number => Math.ceil(((guest.sweep ?? 4) * 1500) / (guest.heartbeatMs ?? 500)) + 12;

/** Polls query-migrate while QEMU migrates, keeping the highest auto-converge throttle it reported. */
function throttleSampler(src: QmpClient): { stop: () => number } {
  let highest = 0;
  const timer = setInterval(() => {
    queryMigrate(src).then((info) => {
      highest = Math.max(highest, info['cpu-throttle-percentage'] ?? 0);
    }, () => undefined);
  }, 500);
  return { stop: () => { clearInterval(timer); return highest; } };
}

/** QEMU 10's own migration; `-incoming defer` target started beforehand, as QEMU needs. */
export async function qemuWanRun(mode: QemuMode, guest: GuestOptions, wan: WanShape, capMs: number, cleanup: Teardown): Promise<WanRow> {
  const base = { run: `QEMU 10 ${mode}`, rate: guest.rate ?? 2000 };
  const scratch = new QemuScratch(cleanup, 'ferry-bench-wan-');
  const source = await startSourceQemu(scratch, guest);
  const target = spawnQemu(scratch, guest, 'target', ['-incoming', 'defer']);
  const src = await QmpClient.connect(source.qmpPath, { timeoutMs: 10_000 });
  const dst = await QmpClient.connect(target.qmpPath, { timeoutMs: 10_000 });
  cleanup.teardown(() => Promise.all([src.close(), dst.close()]));
  const capabilities = [
    { capability: 'events', state: true }, { capability: 'xbzrle', state: mode === 'xbzrle' }, { capability: 'auto-converge', state: mode === 'auto-converge' },
  ];
  for (const qmp of [src, dst]) await qmp.execute('migrate-set-capabilities', { capabilities });
  const port = await freePort();
  await dst.execute('migrate-incoming', { uri: `tcp:127.0.0.1:${port}` });
  const stopped = src.waitForEvent('STOP', undefined, capMs + 60_000);
  const resumed = dst.waitForEvent('RESUME', undefined, capMs + 60_000);
  const w = await watch(cleanup, port, wan, source, target.serialPath);
  let linkAtStop = 0;
  let linkAtResume = 0;
  stopped.then(() => { linkAtStop = w.link.forwardBytes; }, () => undefined);
  resumed.then(() => { linkAtResume = w.link.forwardBytes; }, () => undefined); // awaited only when the migration completed
  const sampler = throttleSampler(src);
  await src.execute('migrate', { uri: `tcp:127.0.0.1:${w.port}` });
  let info: MigrationInfo;
  try {
    info = await waitForMigration(src, capMs);
  } catch (error) {
    if (!(error instanceof QmpError) || error.kind !== 'timeout') throw error;
    const last = await queryMigrate(src);
    await src.execute('migrate_cancel');
    await waitForMigration(src, 60_000).catch(() => undefined); // ends as 'cancelled'
    const own = `sent ${mib(last.ram?.transferred)}, throttle ≤ ${sampler.stop()}%`;
    return { ...base, outcome: `did not converge in ${capMs / 1000} s`, bytes: w.link.forwardBytes, own, guest: await sourceCarriesOn(source) };
  }
  await resumed;
  const highest = sampler.stop();
  const guestVerdict = await judgeGuest(readHeartbeats(source.serialPath).at(-1), target.serialPath, target.exited, beatsToJudge(guest));
  const xbzrle = mode === 'xbzrle' ? `, xbzrle ${mib(info['xbzrle-cache']?.bytes)}` : '';
  const own = `downtime ${info.downtime ?? '?'} ms, ${info.ram?.['dirty-sync-count'] ?? '?'} syncs, throttle ≤ ${highest}%${xbzrle}`;
  return { ...base, outcome: 'switched', ...timings(w), bytes: w.link.forwardBytes, pauseBytes: linkAtResume - linkAtStop, own, guest: guestVerdict };
}

/** ferry with its defaults (`--throttle auto` over `--qmp`) plus `extra`, capped by `--timeout` (then it rolls back). */
export async function ferryWanRun(label: string, extra: readonly string[], guest: GuestOptions, wan: WanShape, capMs: number, cleanup: Teardown): Promise<WanRow> {
  const base = { run: label, rate: guest.rate ?? 2000 };
  const scratch = new QemuScratch(cleanup, 'ferry-bench-wan-');
  const source = await startSourceQemu(scratch, guest);
  const target = await startQemuTarget(cleanup, scratch, guest);
  const w = await watch(cleanup, Number(new URL(target.url).port), wan, source, target.serialPath);
  const seen: Array<{ at: number; event: Record<string, unknown> }> = [];
  const args = ['--to', `ws://127.0.0.1:${w.port}`, '--image', `ram=${source.ramPath}`, '--qmp', source.qmpPath, '--timeout', String(capMs / 1000), ...extra];
  const linkAt = new Map<unknown, number>();
  const run = await runMigrate(cleanup, args, (event) => {
    seen.push({ at: performance.now(), event });
    linkAt.set(event['event'], w.link.forwardBytes);
  });
  const throttle = Math.max(0, ...seen.filter((s) => s.event['event'] === 'throttle').map((s) => Number(s.event['level'])));
  const passes = seen.filter((s) => s.event['event'] === 'pass-end').length;
  if (run.code === 3) {
    const own = `rolled back after ${passes} passes, throttle ≤ ${throttle}%: ${String((run.summary['error'] as { message?: string } | undefined)?.message ?? '').slice(0, 80)}`;
    return { ...base, outcome: `did not converge in ${capMs / 1000} s`, bytes: w.link.forwardBytes, own, guest: await sourceCarriesOn(source) };
  }
  if (run.code !== 0) return { ...base, outcome: `FAILED: ferry migrate exited ${run.code}: ${run.stderr.slice(-200)}`, own: '-', guest: '-' };
  const guestVerdict = await judgeGuest(readHeartbeats(source.serialPath).at(-1), target.serialPath, new Promise(() => {}), beatsToJudge(guest));
  const own = `pauseMs ${String(run.summary['pauseMs'])}, ${String(run.summary['passes'])} passes, throttle ≤ ${throttle}%`;
  const rates = seen.filter((s) => s.event['event'] === 'pass-end').map((s) => `${mib(Number(s.event['dirtyRate'] ?? 0))}/s`);
  const at = (name: string): number => seen.find((x) => x.event['event'] === name)?.at ?? Number.NaN;
  const verified = `verify answered +${Math.round(at('verify') - at('paused'))}ms`;
  const note = `${base.run}, ${base.rate} pages/s: ${pauseBreakdown(seen)}; ${verified}; dirty rate per pass ${rates.join(' ')}${pauseParts(run.summary['pauseTimeline'])}`;
  const pauseBytes = (linkAt.get('resumed') ?? 0) - (linkAt.get('paused') ?? 0);
  return { ...base, outcome: 'switched', ...timings(w), bytes: w.link.forwardBytes, pauseBytes, own, guest: guestVerdict, note };
}

export const mib = (bytes: number | undefined): string => (bytes === undefined ? '?' : `${(bytes / 2 ** 20).toFixed(1)} MiB`);
