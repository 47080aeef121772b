/**
 * `npm run bench:timing`: the timing goals the tests cannot hold on a loaded machine, measured once and
 * printed as ratios. The tests assert only what no load can break (floors, ceilings, per-page costs);
 * how close ferry comes to its settings lives here:
 *   1. wan-proxy: added round trip vs 2 x --delay (goal within 10%)
 *   2. wan-proxy: steady throughput vs --rate (goal within 10%)
 *   3. workload: dirty bytes vs --rate, per profile (goal within 0.5-1.3x)
 *   4. --rate-limit: pass 0 rate over ~10 s vs the limit (goal within 5%)
 *   5. XOR deltas: jvm bytes sent vs --no-delta (goal <= 0.5)
 *   6. stop policies: smart's pre-copy passes vs xen's under a hot writer (goal fewer), and which rule
 *      ended smart's pre-copy (its local minimum, or xen's 3x safety net when the writer outruns the link)
 */
import { randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync, writeSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { startWanProxy } from '@ferry/wan';
import { fillImage, PROFILES, startWorkload as startWorkloadInProcess } from '@ferry/workload';
import { runMigrate, scratchDir, startTarget, startWorkload, TeardownList } from '../test/helpers/ferry.js';
import { roundTrips } from '../test/helpers/round-trips.js';

type Row = [benchmark: string, measured: string, reference: string, ratio: string];
const rows: Row[] = [];

/** The test harness's teardown, run once at the end. */
const scope = new TeardownList();

async function listen(onSocket: (socket: Socket) => void): Promise<{ port: number; close: () => void }> {
  const server = createServer({ allowHalfOpen: true }, onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, close: () => server.close() };
}

const median = (sorted: readonly number[]): number => sorted[Math.floor(sorted.length / 2)]!;

async function wanRtt(): Promise<void> {
  const echo = await listen((socket) => socket.pipe(socket));
  const proxy = await startWanProxy({ listenHost: '127.0.0.1', listenPort: 0, toHost: '127.0.0.1', toPort: echo.port, delayMs: 40 });
  try {
    const added = median(await roundTrips(proxy.port, 15)) - median(await roundTrips(echo.port, 15));
    rows.push(['wan-proxy added RTT, delay 40 ms', `${added.toFixed(1)} ms`, '80 ms', `${(added / 80).toFixed(3)}x (goal 0.9-1.1)`]);
  } finally {
    await proxy.close();
    echo.close();
  }
}

async function wanRate(): Promise<void> {
  const rate = 8_000_000;
  const arrivals: Array<{ at: number; total: number }> = [];
  let received = 0;
  const sink = await listen((socket) => {
    socket.on('data', (chunk: Buffer) => arrivals.push({ at: performance.now(), total: (received += chunk.length) }));
    socket.on('end', () => socket.end());
  });
  const proxy = await startWanProxy({ listenHost: '127.0.0.1', listenPort: 0, toHost: '127.0.0.1', toPort: sink.port, delayMs: 20, rateBytesPerSec: rate });
  try {
    const client = connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
    await once(client, 'connect');
    client.end(Buffer.alloc(22_000_000, 7));
    await once(client, 'end');
    client.destroy();
    // The steady part: without the first 0.25 s (burst, slow start).
    const from = arrivals.find((a) => a.at >= arrivals[0]!.at + 250)!;
    const to = arrivals.at(-1)!;
    const measured = ((to.total - from.total) * 1000) / (to.at - from.at);
    rows.push(['wan-proxy throughput, rate 8 MB/s', `${(measured / 1e6).toFixed(2)} MB/s`, '8 MB/s', `${(measured / rate).toFixed(3)}x (goal 0.9-1.1)`]);
  } finally {
    await proxy.close();
    sink.close();
  }
}

async function workloadRates(): Promise<void> {
  const rate = 8 * 2 ** 20;
  for (const profile of PROFILES) {
    const image = join(scratchDir(scope, 'ferry-timing-'), 'vm.ram');
    await fillImage(image, 32 * 2 ** 20, { seed: 2 });
    const started = performance.now();
    const workload = startWorkloadInProcess({ path: image, size: 32 * 2 ** 20, profile, rateBytesPerSec: rate, seed: 4 });
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the measuring window
    const stats = await workload.stop();
    const seconds = (performance.now() - started) / 1000;
    const ratio = stats.dirtyBytes / (rate * seconds);
    rows.push([`workload ${profile}, 8 MiB/s`, `${(stats.dirtyBytes / 2 ** 20).toFixed(2)} MiB in ${seconds.toFixed(2)} s`, `${((rate * seconds) / 2 ** 20).toFixed(2)} MiB`, `${ratio.toFixed(3)}x (goal 0.5-1.3)`]);
  }
}

async function rateLimit(): Promise<void> {
  const dir = scratchDir(scope, 'ferry-timing-');
  const image = join(dir, 'random.ram');
  const fd = openSync(image, 'w');
  for (let i = 0; i < 40; i += 1) writeSync(fd, randomFillSync(Buffer.alloc(2 ** 20)));
  closeSync(fd);
  const target = await startTarget(scope, join(dir, 'target'));
  const run = await runMigrate(scope, ['--to', target.url, '--id', 'rate', '--image', `ram=${image}`, '--rate-limit', '4MB/s', '--compress', 'never']);
  const pass0 = run.events.find((e) => e['event'] === 'pass-end' && e['pass'] === 0);
  const measured = (Number(pass0?.['bytesSent']) * 1000) / Number(pass0?.['durationMs']);
  rows.push(['--rate-limit 4MB/s, 40 MiB', `${(measured / 1e6).toFixed(3)} MB/s`, '4 MB/s', `${(measured / 4e6).toFixed(3)}x (goal 0.95-1.05)`]);
}

/** One migration of a 16-32 MiB image under a live writer, over a rate-limited link. */
async function hotRun(profile: 'jvm' | 'compile', writer: string, size: number, args: string[]): Promise<Record<string, unknown>[]> {
  const dir = scratchDir(scope, 'ferry-timing-');
  const image = join(dir, 'vm.ram');
  await fillImage(image, size, { seed: 11 });
  const workload = await startWorkload(scope, image, size, profile, writer);
  const target = await startTarget(scope, join(dir, 'target'));
  const run = await runMigrate(scope, ['--to', target.url, '--image', `ram=${image}`, '--pause-cmd', `kill -STOP ${workload.pid}`, '--resume-cmd', `kill -CONT ${workload.pid}`, ...args]);
  workload.child.kill('SIGKILL');
  if (run.code !== 0) throw new Error(`migrate ${args.join(' ')} exited ${run.code}: ${run.stderr.slice(-800)}`);
  return run.events;
}

async function deltaRatio(): Promise<void> {
  const link = ['--policy', 'xen', '--rate-limit', '8MB/s'];
  const bytes = (events: Record<string, unknown>[]): number => Number(events.at(-1)?.['bytesSent']);
  const delta = bytes(await hotRun('jvm', '48MiB/s', 16 * 2 ** 20, link));
  const plain = bytes(await hotRun('jvm', '48MiB/s', 16 * 2 ** 20, [...link, '--no-delta']));
  rows.push(['XOR deltas, jvm, 8 MB/s link', `${(delta / 1e6).toFixed(1)} MB`, `--no-delta ${(plain / 1e6).toFixed(1)} MB`, `${(delta / plain).toFixed(3)}x (goal <= 0.5)`]);
}

async function policyPasses(): Promise<void> {
  const precopy = (events: Record<string, unknown>[]): number => events.filter((e) => e['event'] === 'pass-end' && e['final'] === false).length;
  const link = ['--rate-limit', '24MB/s'];
  const xen = precopy(await hotRun('compile', '32MiB/s', 32 * 2 ** 20, [...link, '--policy', 'xen']));
  const smartRun = await hotRun('compile', '32MiB/s', 32 * 2 ** 20, [...link, '--policy', 'smart']);
  const smart = precopy(smartRun);
  const rule = String(smartRun.at(-1)?.['stopReason'] ?? '').split(':')[0];
  rows.push(['pre-copy passes, smart vs xen', `smart ${smart} (${rule} rule)`, `xen ${xen}`, `${(smart / xen).toFixed(2)}x (goal < 1)`]);
}

try {
  for (const bench of [wanRtt, wanRate, workloadRates, rateLimit, deltaRatio, policyPasses]) {
    process.stderr.write(`ferry bench:timing: ${bench.name}...\n`);
    await bench();
  }
  const widths = [34, 22, 22, 24];
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 10)).join('  ');
  process.stdout.write(`${line(['benchmark', 'measured', 'reference', 'ratio'])}\n${rows.map(line).join('\n')}\n`);
} finally {
  await scope.run();
}
