/**
 * `npm run bench:qemu -- --wan RATE,DELAY` (e.g. `--wan 100mbit,20ms`): the same guest (256 MiB, TCG,
 * heartbeat every 20 ms) moved over `ferry wan-proxy` by QEMU 10's own migration (plain, xbzrle,
 * auto-converge) and by ferry with its defaults, at two dirty rates: the bench's usual 2000 pages/s and
 * 4096 pages/s (16 MiB/s, more than a 100 Mbit/s link carries). One table: outcome, total time, bytes on
 * the link, the guest's blackout from its own heartbeat gap, the longest stall the throttle caused
 * before the switch, and each tool's own figures.
 * FERRY_BENCH_WAN_RATES=2000,4096 (pages/s), FERRY_BENCH_WAN_CAP_S=120 (per run),
 * FERRY_BENCH_WAN_RUNS=ferry,auto-converge (only the runs whose name contains one of these).
 */
import type { GuestOptions } from '../test/helpers/qemu.js';
import { Cleanup } from './qemu-common.js';
import type { WanShape } from './qemu-disk-links.js';
import { ferryWanRun, mib, qemuWanRun, type QemuMode, type WanRow } from './qemu-wan-runs.js';

const HEARTBEAT_MS = 20;
const PACED = 'ferry --rate-limit 90% of link';

/** `100mbit,20ms` → the link `ferry wan-proxy` emulates: that rate and that one-way delay. */
export function parseWan(text: string): WanShape {
  const match = /^([^,]+),(\d+)(ms)?$/.exec(text.trim());
  if (!match) throw new Error(`--wan ${text}: expected RATE,DELAY such as 100mbit,20ms`);
  return { rate: match[1]!, delayMs: Number(match[2]) };
}

/** 90% of the link's rate, for the paced ferry row (`100mbit` → `90mbit`). */
export function paced(rate: string): string {
  const match = /^(\d+(?:\.\d+)?)(.*)$/.exec(rate);
  return match ? `${Number(match[1]) * 0.9}${match[2]}` : rate;
}

type Run = readonly [string, (guest: GuestOptions, cleanup: Cleanup) => Promise<WanRow>];

function runsFor(wan: WanShape, capMs: number): Run[] {
  const modes: QemuMode[] = ['plain', 'xbzrle', 'auto-converge'];
  return [
    ...modes.map((mode): Run => [`QEMU 10 ${mode}`, (guest, cleanup) => qemuWanRun(mode, guest, wan, capMs, cleanup)]),
    ['ferry (defaults)', (guest, cleanup) => ferryWanRun('ferry (defaults)', [], guest, wan, capMs, cleanup)],
    // Not a default: pacing below the link keeps the sender's queue short, which is what the pause waits behind.
    [PACED, (guest, cleanup) => ferryWanRun(PACED, ['--rate-limit', paced(wan.rate)], guest, wan, capMs, cleanup)],
  ];
}

export async function wanBench(base: GuestOptions, qemu10: readonly string[], wan: WanShape): Promise<void> {
  const rates = (process.env['FERRY_BENCH_WAN_RATES'] ?? '2000,4096').split(',').map(Number);
  const capMs = Number(process.env['FERRY_BENCH_WAN_CAP_S'] ?? 120) * 1000;
  const only = process.env['FERRY_BENCH_WAN_RUNS']?.split(',');
  const rows: WanRow[] = [];
  for (const rate of rates) {
    const guest: GuestOptions = { ...base, qemu: qemu10, rate, heartbeatMs: HEARTBEAT_MS };
    for (const [name, run] of runsFor(wan, capMs)) {
      if (only && !only.some((part) => name.includes(part))) continue;
      const cleanup = new Cleanup();
      try {
        rows.push(await run(guest, cleanup));
      } catch (error) {
        rows.push({ run: name, rate, outcome: `FAILED: ${(error as Error).message.slice(0, 200)}`, own: '-', guest: '-' });
      } finally {
        await cleanup.run();
      }
      console.log(`  ${JSON.stringify(rows.at(-1))}`);
    }
  }
  console.log(`\nQEMU 10 and ferry over ferry wan-proxy (${wan.rate}, ${wan.delayMs} ms each way); guest: 256 MiB RAM, TCG, memtouch over ${base.touchMiB ?? 64} MiB,`);
  console.log(`heartbeat every ${HEARTBEAT_MS} ms. Total: migration start to the target guest's first heartbeat. Blackout: source's last heartbeat to the`);
  console.log(`target's first, as the host saw them (includes up to one ${HEARTBEAT_MS} ms interval). Longest stall: the longest gap between two source`);
  console.log(`heartbeats before the switch (the throttle). Bytes: source to target on the link; sent during pause: what crossed it
between the source's stop and the target's resume. Each run is capped at ${capMs / 1000} s.\n`);
  printWanTable(rows);
  for (const row of rows) if (row.note) console.log(`\n${row.note}`);
}

function printWanTable(rows: readonly WanRow[]): void {
  const header = ['run', 'dirty rate', 'outcome', 'total s', 'bytes on link', 'blackout ms', 'sent during pause', 'longest stall ms', "tool's own figures", 'guest'];
  const cells = rows.map((r) => [
    r.run, `${r.rate} pages/s (${((r.rate * 4096) / 2 ** 20).toFixed(1)} MiB/s)`, r.outcome,
    r.totalMs === undefined ? '-' : (r.totalMs / 1000).toFixed(1), r.bytes === undefined ? '-' : mib(r.bytes),
    r.blackoutMs === undefined ? '-' : String(r.blackoutMs), r.pauseBytes === undefined ? '-' : mib(r.pauseBytes), r.stallMs === undefined ? '-' : String(r.stallMs), r.own, r.guest,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const c of cells) console.log(line(c));
}
