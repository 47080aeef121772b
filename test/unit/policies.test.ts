import t from 'tap';
import {
  bytesHiddenByFinalScan, DRAIN_PASSES, downtimePolicy, estimateDowntimeMs, finalScanHides, passWhileDraining, PAUSE_ROUND_TRIPS, smartPolicy, withDowntimeCap, xenPolicy, XEN_MAX_PASSES,
  type PassRecord, type PolicyContext, type StopDecision,
} from '@ferry/agent-source';

const PAGE = 4096;
const IMAGE = 64 * 1024 * 1024;
const context: PolicyContext = { imageBytes: IMAGE };

/** Builds a history from dirty counts; each pass sends its dirty pages raw at 100 MB/s (or `link`) after a 50 ms scan. */
function history(dirty: readonly number[], bytesPerPage = PAGE, link = 100e6): PassRecord[] {
  return dirty.map((dirtyPages, pass) => {
    const bytesSent = dirtyPages * bytesPerPage;
    const durationMs = 50 + (bytesSent / link) * 1000;
    return { pass, dirtyPages, bytesSent, durationMs, bandwidth: (bytesSent * 1000) / durationMs };
  });
}

/** Feeds passes one at a time, as the source does, and returns the pass at which the policy stops. */
function stopsAt(policy: typeof xenPolicy, passes: readonly PassRecord[], ctx = context): number | undefined {
  for (let n = 1; n <= passes.length; n++) {
    if (policy(passes.slice(0, n), ctx).stop) return n - 1;
  }
  return undefined;
}

// Recorded from a web-like workload on a 64 MiB image: fast convergence.
const converging = history([16384, 3000, 900, 300, 120, 60, 40, 35]);
// A writer dirtying faster than the link: the dirty count hovers and never falls (small deltas, so
// the 3x-image rule is not what stops it).
const hovering = history([16384, 9000, 9400, 8800, 9100, 9050, 8700, 9300, 8900, 9200, 9000, 9100, 8950, 9150, 9050,
  9000, 9100, 9200, 8900, 9000, 9100, 9000, 9200, 9050, 9100, 9000, 8990, 9010, 9100, 9000, 9050, 9000], 256);

t.test('xen: stops when fewer than 50 pages are dirty', async (t) => {
  t.equal(stopsAt(xenPolicy, converging), 6, 'pass 6 has 40 dirty pages');
  t.match(xenPolicy(converging.slice(0, 7), context), { stop: true, reason: /40 pages/ });
});

t.test('xen: stops after 3x the image was sent', async (t) => {
  const heavy = history([16384, 16000, 16000, 16000, 16000, 16000]);
  t.equal(stopsAt(xenPolicy, heavy), 3, 'passes 0-3 send 64 MiB + 3 x 62.5 MiB > 192 MiB');
  t.match(xenPolicy(heavy.slice(0, 4), context), { stop: true, reason: /3x the image/ });
});

t.test('xen: stops at 30 passes', async (t) => {
  t.equal(stopsAt(xenPolicy, hovering), XEN_MAX_PASSES - 1, 'the 30th pass is pass 29');
  t.match(xenPolicy(hovering.slice(0, 30), context), { stop: true, reason: /30 passes/ });
  t.same(xenPolicy([], context), { stop: false });
});

const MIB = 2 ** 20;
const IMAGE_256 = 256 * MIB;

/** A history from measured (MiB sent, duration ms, dirty pages) triples, as `npm run bench:cloudnet` prints them. */
function measured(passes: ReadonlyArray<readonly [number, number, number]>): PassRecord[] {
  return passes.map(([mib, durationMs, dirtyPages], pass) => ({ pass, dirtyPages, bytesSent: mib * MIB, durationMs, bandwidth: (mib * MIB * 1000) / durationMs }));
}

/**
 * Feeds passes one at a time with the link queue a ping after each pass would have found: what the queue
 * held after the pass before, plus its bytes at the link rate, minus its time (`startMs` queued after pass 0).
 */
function stopsWithQueue(passes: readonly PassRecord[], linkBytesPerSec: number, startMs: number): number | undefined {
  let queuedMs = startMs;
  for (let n = 1; n <= passes.length; n++) {
    const newest = passes[n - 1]!;
    const afterNewest = n === 1 ? startMs : Math.max(0, queuedMs + (newest.bytesSent / linkBytesPerSec) * 1000 - newest.durationMs);
    if (smartPolicy(passes.slice(0, n), { imageBytes: IMAGE_256, linkQueueMs: queuedMs }).stop) return n - 1;
    queuedMs = afterNewest;
  }
  return undefined;
}

const LINK_100MBIT = 100e6 / 8;

// Shaped like the bench's runs (256 MiB, 100 Mbit/s, 20 ms): pass 0, what it let dirty, then the fall
// to each profile's floor. The bytes are as encoded (deltas, LZ4).
const web = measured([[158.7, 12629, 65536], [11.34, 703, 6200], [0.98, 194, 700], [0.1, 190, 90], [0.09, 185, 80], [0.1, 192, 88],
  [0.09, 188, 85], [0.1, 190, 88], [0.09, 186, 84], [0.1, 191, 87], [0.09, 187, 85]]);
const compile = measured([[170.4, 13659, 65536], [53.4, 4701, 17000], [15.3, 949, 5200], [6.23, 777, 2100], [3.97, 156, 1300],
  [1.2, 300, 420], [1.0, 290, 350], [1.05, 295, 360], [0.98, 288, 340], [1.02, 292, 350]]);
const jvm = measured([[166.3, 13270, 65536], [58.1, 4714, 30000], [6.68, 850, 9000], [1.92, 417, 3000], [0.97, 299, 1500],
  [0.6, 280, 1100], [0.55, 270, 1000], [0.58, 275, 1050], [0.56, 272, 1020]]);
const fewestBytes = (passes: readonly PassRecord[]): number => Math.min(...passes.slice(1).map((p) => p.bytesSent));

t.test('smart: stops once another pass cannot shorten the pause, on each profile\'s shape', async (t) => {
  const ctx = { imageBytes: IMAGE_256 };
  for (const [name, passes, expected] of [['web', web, 3], ['compile', compile, 5], ['jvm', jvm, 5]] as const) {
    const stop = stopsAt(smartPolicy, passes, ctx);
    t.equal(stop, expected, `${name} stops at pass ${expected}`);
    const sent = passes[stop ?? 0]!.bytesSent;
    t.ok(sent <= fewestBytes(passes) / 0.8, `${name}: the pause's pages (${(sent / MIB).toFixed(2)} MiB) are at the floor the history reaches`);
    t.ok((stop ?? 99) < XEN_MAX_PASSES - 1, `${name}: well before Xen's 30 passes`);
  }
  t.same(smartPolicy(compile.slice(0, 4), ctx), { stop: false }, 'compile pass 3 (6.2 MiB) still halves: the old rule stopped here, at 2.6x Xen\'s pause');
  t.same(smartPolicy(jvm.slice(0, 5), ctx), { stop: false }, 'jvm pass 4 (0.97 MiB, 77 ms) is still falling by more than 10 ms a pass');
  t.match(smartPolicy(web.slice(0, 4), ctx), { stop: true, reason: /pass 3's pages would add ~6 ms/ });
});

t.test('smart: does not pause while earlier passes are still queued on the link', async (t) => {
  // Pass 0's tail left 700 ms queued (socket buffers and the emulated link), pass 1 added more.
  const webStop = stopsWithQueue(web, LINK_100MBIT, 700);
  t.ok(webStop !== undefined && webStop > 3, `web waits for the queue to drain (stops at pass ${webStop}, not 3)`);
  t.equal(stopsWithQueue(web, LINK_100MBIT, 0), 3, 'an empty link changes nothing');
  t.same(smartPolicy(web.slice(0, 4), { imageBytes: IMAGE_256, linkQueueMs: 400 }), { stop: false }, '400 ms queued is more than pass 3 could drain');
  t.match(smartPolicy(web.slice(0, 4), { imageBytes: IMAGE_256, linkQueueMs: 150 }), { stop: true }, 'pass 3 (190 ms) drained 150 ms of queue');
});

t.test('smart: a count still halving pass after pass is converging, not at a minimum', async (t) => {
  // A 10 MB/s link: the pages matter to the pause all along.
  const falling = history([16384, 8000, 4000, 2000, 1000, 500, 250, 150, 140, 145], PAGE, 10e6);
  t.equal(stopsAt(smartPolicy, falling), 8, 'it goes on while each pass is clearly shorter; stops once 140 pages take as long as 150 did');
  t.match(smartPolicy(falling.slice(0, 9), context), { stop: true, reason: /smart: pass 8/ });
  t.same(smartPolicy(falling.slice(0, 2), context), { stop: false }, 'pass 1 (what pass 0 let dirty) is never the sample');
});

t.test('smart: a writer faster than the link stops at once, unless the newest pass is a noisy high', async (t) => {
  t.equal(stopsAt(smartPolicy, hovering), 2, 'passes that do not shorten cannot shrink the set: pause while the pages are cheap');
  t.ok((stopsAt(smartPolicy, hovering) ?? 99) < (stopsAt(xenPolicy, hovering) ?? 0), 'smart stops earlier than xen on a hovering writer');
  const spike = history([16384, 1000, 3000, 3100, 1050, 1000]);
  t.equal(stopsAt(smartPolicy, spike), 5, 'passes 2-3 are far above pass 1\'s set: wait until a pass is back near it and no longer falling');
  const quiet = history([16384, 10]);
  t.match(smartPolicy(quiet, context), { stop: true, reason: /^xen/ }, 'xen rule is the safety net');
});

t.test('smart: converging quickly, it stops once the pages no longer matter', async (t) => {
  t.equal(stopsAt(smartPolicy, converging), 3, 'before xen\'s 50-page floor');
  t.same(smartPolicy(converging.slice(0, 3), context), { stop: false }, 'pass 2 (37 ms of pages, half the pass before) still promises ~18 ms');
});

t.test('downtime: stops when the estimated pause fits', async (t) => {
  const ctx = { ...context, maxDowntimeMs: 80 };
  // Estimate = last bytes / best bandwidth + fastest pass; pass 0 sets the bandwidth (~98 MB/s).
  const estimates = converging.map((_, n) => estimateDowntimeMs(converging.slice(0, n + 1)));
  const firstFit = estimates.findIndex((ms, n) => n >= 1 && ms <= 80);
  t.ok(firstFit > 0, `some pass fits the 80 ms target (estimates ${estimates.map(Math.round).join(', ')})`);
  t.equal(stopsAt(downtimePolicy, converging, ctx), firstFit);
  t.match(downtimePolicy(converging.slice(0, firstFit + 1), ctx), { stop: true, reason: /downtime: estimated pause/ });
});

t.test('downtime: an impossible target falls back to xen', async (t) => {
  const ctx = { ...context, maxDowntimeMs: 1 };
  t.equal(stopsAt(downtimePolicy, hovering, ctx), XEN_MAX_PASSES - 1);
  t.same(downtimePolicy(hovering.slice(0, 1), ctx), { stop: false }, 'one pass is not enough to estimate');
});

t.test('--max-downtime: no policy stops while the estimate breaks the cap, xen rule included', async (t) => {
  const capped = withDowntimeCap(xenPolicy);
  const tight = { ...context, maxDowntimeMs: 1 };
  t.equal(stopsAt(capped, hovering, tight), undefined, 'the 30-pass rule no longer forces a pause over the cap');
  const loose = { ...context, maxDowntimeMs: 10_000 };
  t.equal(stopsAt(capped, hovering, loose), XEN_MAX_PASSES - 1, 'a cap the estimate fits changes nothing');
  t.equal(stopsAt(withDowntimeCap(smartPolicy), hovering, context), stopsAt(smartPolicy, hovering), 'no cap, no change');
  const smartStop = stopsAt(smartPolicy, hovering) ?? 0;
  const upToStop = hovering.slice(0, smartStop + 1);
  const rtt = { ...tight, maxDowntimeMs: estimateDowntimeMs(upToStop) + 1 };
  t.equal(stopsAt(withDowntimeCap(smartPolicy), upToStop, rtt), smartStop, 'fits without round trips');
  t.equal(stopsAt(withDowntimeCap(smartPolicy), upToStop, { ...rtt, rttMs: 40 }), undefined, `${PAUSE_ROUND_TRIPS} round trips of 40 ms break it`);
});

t.test('estimateDowntimeMs: bytes over best bandwidth plus the scan floor', async (t) => {
  const passes: PassRecord[] = [
    { pass: 0, dirtyPages: 1000, bytesSent: 100e6, durationMs: 1000, bandwidth: 100e6 },
    { pass: 1, dirtyPages: 100, bytesSent: 10e6, durationMs: 200, bandwidth: 50e6 },
  ];
  t.equal(estimateDowntimeMs(passes), 100 + 200);
  t.equal(estimateDowntimeMs(passes, 20), 100 + 200 + PAUSE_ROUND_TRIPS * 20, 'plus the pause\'s round trips');
  t.equal(estimateDowntimeMs([]), Infinity);
});

t.test('bytesHiddenByFinalScan: what the best bandwidth carries during the fastest pass', async (t) => {
  const passes: PassRecord[] = [
    { pass: 0, dirtyPages: 60000, bytesSent: 100e6, durationMs: 8000, bandwidth: 12.5e6 },
    { pass: 1, dirtyPages: 1500, bytesSent: 3.5e6, durationMs: 260, bandwidth: 13.5e6 },
    { pass: 2, dirtyPages: 130, bytesSent: 0.3e6, durationMs: 54, bandwidth: 6e6 },
  ];
  t.equal(bytesHiddenByFinalScan(passes), 13.5e6 * 0.054, 'the best bandwidth (pass 1) over the fastest pass (pass 2, the scan floor)');
  t.equal(bytesHiddenByFinalScan([]), 0, 'no pass yet: nothing is known to be hidden, so the source drains');
  t.equal(bytesHiddenByFinalScan([{ pass: 0, dirtyPages: 0, bytesSent: 0, durationMs: 30, bandwidth: 0 }]), 0, 'nothing sent: no rate to count on');
});

t.test('passWhileDraining: a stop the link cannot take yet becomes another pass, a few times at most', async (t) => {
  // The best bandwidth 12.5 MB/s over the fastest pass, 50 ms: 625 kB ride behind the final scan.
  const passes: PassRecord[] = [
    { pass: 0, dirtyPages: 60000, bytesSent: 100e6, durationMs: 8000, bandwidth: 12.5e6 },
    { pass: 1, dirtyPages: 120, bytesSent: 0.3e6, durationMs: 50, bandwidth: 6e6 },
  ];
  const stop: StopDecision = { stop: true, reason: 'smart: ...' };
  const queued = (queuedBytes: number | undefined, caughtUp = true) => ({ queuedBytes, caughtUp });
  t.equal(passWhileDraining(stop, passes, queued(1.5e6), 0, false), true, '1.5 MB in flight: one more pass');
  t.equal(passWhileDraining(stop, passes, queued(0.6e6), 0, false), false, '600 kB: hidden by the final scan, pause now');
  t.equal(passWhileDraining(stop, passes, queued(0.1e6, false), 0, false), true, 'few bytes in flight, but the target has not read what came before the last ping: one more pass');
  t.equal(passWhileDraining(stop, passes, queued(undefined), 0, false), true, 'a target that does not acknowledge: nothing is known to be hidden');
  t.equal(passWhileDraining(stop, passes, queued(1.5e6), DRAIN_PASSES - 1, false), true, 'still under the cap');
  t.equal(passWhileDraining(stop, passes, queued(1.5e6), DRAIN_PASSES, false), false, 'at the cap: pause, and wait for the link first');
  t.equal(passWhileDraining(stop, passes, queued(1.5e6), 0, true), false, '--on-timeout force is never put off');
  t.equal(passWhileDraining({ stop: false }, passes, queued(1.5e6), 0, false), false, 'no stop, nothing to put off');
});

t.test('finalScanHides: the pause waits for nothing only when the target has caught up and the scan covers the rest', async (t) => {
  const passes: PassRecord[] = [{ pass: 0, dirtyPages: 100, bytesSent: 1e6, durationMs: 100, bandwidth: 10e6 }];
  t.equal(finalScanHides(passes, { queuedBytes: 1e6, caughtUp: true }), true, '1 MB at 10 MB/s during a 100 ms scan');
  t.equal(finalScanHides(passes, { queuedBytes: 1.1e6, caughtUp: true }), false);
  t.equal(finalScanHides(passes, { queuedBytes: 0, caughtUp: false }), false, 'a target still reading older bytes holds the pause messages back');
  t.equal(finalScanHides([], { queuedBytes: 0, caughtUp: true }), true, 'nothing in flight needs no time');
});
