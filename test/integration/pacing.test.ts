/**
 * Pacing over an emulated slow link with a deep queue (ferry wan-proxy at 40 Mbit/s, 10 ms each way,
 * 32 MiB of "router queue"): by default the source paces itself to the link, so the bytes still in flight
 * as the pre-copy ends (the summary's pacing.queuedAtPause: sent, not yet acknowledged by the target) stay
 * within the pacer's window; with --no-pacing the same migration fills the queues (the proxy's peak is
 * printed beside it, not asserted: the pacer's startup window may briefly reach it), and the policy's stop
 * is put off by passes while that queue drains, each saying so. Bytes only, as the
 * source counts them: how long each run takes is the benchmarks' business.
 */
import t, { type Test } from 'tap';
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DRAIN_PASSES } from '@ferry/agent-source';
import { startWanProxy } from '@ferry/wan';
import { runMigrate, scratchDir, sha256, startTarget } from '../helpers/ferry.js';

const MiB = 1024 * 1024;
const SIZE = 16 * MiB;
const RATE = 5_000_000;

type Pacing = { state: string; reason?: string; deliveryRate?: number; queuedAtPause?: number; windowAtPause?: number };

async function migrateThroughProxy(t: Test, dir: string, id: string, extra: string[]): Promise<{ pacing: Pacing; peakQueued: number; passEnds: Record<string, unknown>[] }> {
  const target = await startTarget(t, join(dir, `target-${id}`));
  const port = Number(new URL(target.url).port);
  const proxy = await startWanProxy({ listenHost: '127.0.0.1', listenPort: 0, toHost: '127.0.0.1', toPort: port, delayMs: 10, rateBytesPerSec: RATE, maxQueuedBytes: 32 * MiB });
  t.teardown(() => proxy.close());
  const image = join(dir, 'random.ram');
  const run = await runMigrate(t, ['--to', `ws://127.0.0.1:${proxy.port}`, '--id', id, '--image', `ram=${image}`, '--pause-cmd', 'true', '--compress', 'never', ...extra]);
  t.equal(run.code, 0, `${id} commits (stderr: ${run.stderr.slice(-800)})`);
  t.equal(await sha256(join(dir, `target-${id}`, id, 'ram')), await sha256(image), `${id}: byte-identical`);
  const passEnds = run.events.filter((e) => e['event'] === 'pass-end' && e['final'] === false);
  return { pacing: run.summary['pacing'] as Pacing, peakQueued: proxy.stats().up.peakQueuedBytes, passEnds };
}

t.test('paced by default, the queue ahead of the pause stays within the pacer\'s window; unpaced, it does not', async (t) => {
  const dir = scratchDir(t);
  const fd = openSync(join(dir, 'random.ram'), 'w');
  const chunk = Buffer.alloc(MiB);
  for (let i = 0; i < SIZE / MiB; i++) writeSync(fd, randomFillSync(chunk));
  closeSync(fd);

  const paced = await migrateThroughProxy(t, dir, 'paced', []);
  t.comment(`paced: ${JSON.stringify(paced.pacing)}, proxy peak ${paced.peakQueued} bytes`);
  t.equal(paced.pacing.state, 'on', 'the source paced itself');
  const rate = paced.pacing.deliveryRate ?? 0;
  // Not a timing goal (a loaded machine delivers less than the link): above the link would mean a unit
  // or alignment error, since no byte crosses the proxy faster than its rate.
  t.ok(rate > 0 && rate < RATE * 1.5, `the delivery rate it found (${rate} B/s) is not above the link's (${RATE} B/s)`);
  const window = paced.pacing.windowAtPause ?? 0;
  t.ok(window > 0 && window < 12 * MiB, `its window as the pre-copy ended (${window} bytes) is a few messages and a fraction of a second of the link`);
  // Only pages wait for the window; PASS_END and PASS_BEGIN (a few bytes each) may go beside it.
  t.ok(paced.pacing.queuedAtPause !== undefined && paced.pacing.queuedAtPause <= window + 1024,
    `in flight at the pause: ${paced.pacing.queuedAtPause} bytes, within that window`);

  const unpaced = await migrateThroughProxy(t, dir, 'unpaced', ['--no-pacing']);
  t.comment(`unpaced: ${JSON.stringify(unpaced.pacing)}, proxy peak ${unpaced.peakQueued} bytes`);
  t.same(unpaced.pacing.state, 'off');
  t.match(unpaced.pacing.reason, /--no-pacing/);
  t.ok((unpaced.pacing.queuedAtPause ?? 0) > window, `unpaced, ${unpaced.pacing.queuedAtPause} bytes were in flight at the pause: more than the paced window`);
  // With megabytes queued when the policy stops, the stop is put off by passes while the link drains
  // (each a rescan of a still image, a few ms against the seconds the queue takes), and each says so.
  const putOff = unpaced.passEnds.filter((e) => e['deferredStop'] !== undefined);
  t.ok(putOff.length >= 1 && putOff.length <= DRAIN_PASSES, `unpaced, ${putOff.length} passes put the policy's stop off (at most ${DRAIN_PASSES}): ${putOff.map((e) => String(e['deferredStop'])).join('; ')}`);
  t.notOk(putOff.some((e) => e['stop'] === true), 'a pass that puts the stop off does not stop');
  t.equal(unpaced.passEnds.at(-1)?.['stop'], true, 'the last pre-copy pass stops, with its reason');
});

t.test('--rate-limit and --no-pacing together are refused', async (t) => {
  const run = await runMigrate(t, ['--to', 'ws://127.0.0.1:9', '--image', 'ram=/nonexistent', '--rate-limit', '1MB/s', '--no-pacing']);
  t.equal(run.code, 2, 'a usage error');
  t.match(run.stderr, /give --rate-limit or --no-pacing, not both/);
});
