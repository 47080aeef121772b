import t from 'tap';
import {
  downtimePolicy, estimateDowntimeMs, PAUSE_ROUND_TRIPS, smartPolicy, withDowntimeCap, xenPolicy, XEN_MAX_PASSES,
  type PassRecord, type PolicyContext,
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

t.test('smart: stops at the first local minimum of a full window, pass 0 excluded', async (t) => {
  // samples (passes 1..): 9000 9400 8800 9100 9050 -> 9050 is not below 8800; next 8700 is: stop at pass 6.
  t.equal(stopsAt(smartPolicy, hovering), 6);
  t.match(smartPolicy(hovering.slice(0, 7), context), { stop: true, reason: /smart: pass 6/ });
  t.ok((stopsAt(smartPolicy, hovering) ?? 99) < (stopsAt(xenPolicy, hovering) ?? 0), 'smart stops earlier than xen on a hovering writer');
});

t.test('smart: never stops before the window is full, unless xen does', async (t) => {
  const flattening = history([16384, 5000, 4000, 3500, 3200, 3000, 2900]);
  t.equal(stopsAt(smartPolicy, flattening), 5, 'needs five samples after pass 0');
  const quick = history([16384, 5000, 4000]);
  t.equal(stopsAt(smartPolicy, quick), undefined, 'two samples are not a window');
  const quiet = history([16384, 10]);
  t.match(smartPolicy(quiet, context), { stop: true, reason: /^xen/ }, 'xen rule is the safety net');
});

t.test('smart: a count still halving pass after pass is converging, not at a minimum', async (t) => {
  // A 10 MB/s link: the pages matter to the pause all along (the other smart rule never fires).
  const falling = history([16384, 8000, 4000, 2000, 1000, 500, 250, 150, 140, 145], PAGE, 10e6);
  t.equal(stopsAt(smartPolicy, falling), 8, 'it goes on while each pass halves; stops once 140 is >= 80% of 150');
  t.match(smartPolicy(falling.slice(0, 9), context), { stop: true, reason: /fall has flattened/ });
});

t.test('smart: stops once the pages no longer matter to the pause', async (t) => {
  // Pass 3 sends 300 pages (1.2 MB, 13 ms at the best rate seen, 93 MB/s): under a quarter of the fastest pass (62 ms).
  t.equal(stopsAt(smartPolicy, converging), 3, 'before the window is full and before xen\'s 50-page floor');
  t.match(smartPolicy(converging.slice(0, 4), context), { stop: true, reason: /pass 3's pages would add ~13 ms to a pause of at least 62 ms/ });
  t.equal(stopsAt(smartPolicy, converging, { ...context, rttMs: 30 }), 2, `${PAUSE_ROUND_TRIPS} round trips of 30 ms raise the fixed part: pass 2's 37 ms is under a quarter of 87 + 90 ms`);
  t.same(smartPolicy(converging.slice(0, 2), context), { stop: false }, 'pass 1 (what pass 0 let dirty) is never the sample');
  const linkBound = history([16384, 3000, 900, 300], PAGE, 1e6);
  t.same(smartPolicy(linkBound, { ...context, rttMs: 1000 }), { stop: false }, 'no pass mostly scanned yet: the scan time is unknown, so nothing is small next to it');
});

t.test('smart: a rising dirty count keeps going', async (t) => {
  const rising = history([16384, 1000, 1100, 1200, 1300, 1400, 1500]);
  t.same(smartPolicy(rising, context), { stop: false });
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
  const rtt = { ...tight, maxDowntimeMs: estimateDowntimeMs(hovering.slice(0, 7)) + 1 };
  t.equal(stopsAt(withDowntimeCap(smartPolicy), hovering.slice(0, 7), rtt), 6, 'fits without round trips');
  t.equal(stopsAt(withDowntimeCap(smartPolicy), hovering.slice(0, 7), { ...rtt, rttMs: 40 }), undefined, `${PAUSE_ROUND_TRIPS} round trips of 40 ms break it`);
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
