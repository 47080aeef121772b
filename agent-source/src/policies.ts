/**
 * Stop policies: pure functions of the pass history that decide when pre-copy has done all it usefully
 * can, so the workload should pause for the final pass. No I/O, no clock: tested on recorded histories.
 */

export interface PassRecord {
  readonly pass: number;
  /** Pages found dirty (hash differs from what the target holds) and sent in this pass. */
  readonly dirtyPages: number;
  /** Bytes put on the wire in this pass. */
  readonly bytesSent: number;
  readonly durationMs: number;
  /** Effective bytes per second of this pass (bytesSent / duration). */
  readonly bandwidth: number;
}

export interface PolicyContext {
  readonly imageBytes: number;
  /** The largest pause the user accepts: no policy stops while the estimated pause is longer. */
  readonly maxDowntimeMs?: number | undefined;
  /** The measured round trip to the target; the pause waits on a few of them. */
  readonly rttMs?: number | undefined;
}

export type StopDecision =
  | { readonly stop: false }
  | { readonly stop: true; readonly reason: string };

export type PolicyName = 'smart' | 'xen' | 'downtime';
export type StopPolicy = (history: readonly PassRecord[], context: PolicyContext) => StopDecision;

/** Xen's limits (xc_domain_save): stop under 50 dirty pages, after sending 3x the image, or at 30 passes. */
export const XEN_MIN_DIRTY_PAGES = 50;
export const XEN_MAX_SENT_FACTOR = 3;
export const XEN_MAX_PASSES = 30;
/** CloudNet's smart stop looks for a local minimum over this many recent passes. */
export const SMART_WINDOW = 5;
/** The fall has flattened when a pass sends at least this share of the one before it. */
export const SMART_PLATEAU = 0.8;
/** The pages no longer matter when sending them takes at most this share of the pause's fixed part. */
export const SMART_TAIL = 0.25;
/** Round trips inside the pause: PAUSED and the final pages, VERIFY -> VERIFY_RESULT, GO -> RESUMED. */
export const PAUSE_ROUND_TRIPS = 3;

const KEEP_GOING: StopDecision = { stop: false };

export const xenPolicy: StopPolicy = (history, context) => {
  const last = history.at(-1);
  if (last === undefined) return KEEP_GOING;
  if (last.dirtyPages < XEN_MIN_DIRTY_PAGES) {
    return { stop: true, reason: `xen: only ${last.dirtyPages} pages were dirty in pass ${last.pass} (< ${XEN_MIN_DIRTY_PAGES})` };
  }
  const totalSent = history.reduce((sum, p) => sum + p.bytesSent, 0);
  if (totalSent > XEN_MAX_SENT_FACTOR * context.imageBytes) {
    return { stop: true, reason: `xen: ${totalSent} bytes sent, over ${XEN_MAX_SENT_FACTOR}x the image` };
  }
  if (history.length >= XEN_MAX_PASSES) return { stop: true, reason: `xen: reached ${XEN_MAX_PASSES} passes` };
  return KEEP_GOING;
};

/**
 * CloudNet's smart stop: pre-copy stops paying off once the dirty count stops falling. Two signs of that,
 * whichever comes first (Xen's rule stays as the safety net):
 * - the pages no longer matter: sending the newest pass's bytes would take at most SMART_TAIL of the
 *   pause's fixed part (one scan of the image, timed by the fastest pass that mostly scanned, and the
 *   round trips), so no later pass can shorten the pause by much, and each costs a full scan and more data;
 * - a local minimum: the newest pass has no more dirty pages than any before it in the last SMART_WINDOW
 *   passes (a tie counts), and the fall has flattened (it sent at least SMART_PLATEAU of the pass before).
 *   A count still halving pass after pass is converging, not at a minimum: stopping there paused with a
 *   larger dirty set than Xen reached later (compile profile: 2.8x Xen's pause).
 * Pass 0 sends the whole image and pass 1 what was dirtied during it: neither is a sample of the steady state.
 */
export const smartPolicy: StopPolicy = (history, context) => {
  const xen = xenPolicy(history, context);
  if (xen.stop) return xen;
  return pagesNoLongerMatter(history, context) ?? localMinimum(history) ?? KEEP_GOING;
};

function pagesNoLongerMatter(history: readonly PassRecord[], context: PolicyContext): StopDecision | undefined {
  const newest = history.at(-1);
  const bandwidth = Math.max(...history.map((p) => p.bandwidth));
  if (newest === undefined || history.length < 3 || !(bandwidth > 0)) return undefined;
  const sendMs = (p: PassRecord): number => (p.bytesSent / bandwidth) * 1000;
  // Only a pass that mostly scanned (sending took at most half of it) measures the scan; a pass that
  // mostly sent says only that the scan is shorter than it.
  const scans = history.slice(1).filter((p) => sendMs(p) <= p.durationMs / 2).map((p) => p.durationMs);
  if (scans.length === 0) return undefined;
  const fixedMs = Math.min(...scans) + PAUSE_ROUND_TRIPS * (context.rttMs ?? 0);
  const pagesMs = sendMs(newest);
  if (pagesMs > SMART_TAIL * fixedMs) return undefined;
  return {
    stop: true,
    reason: `smart: pass ${newest.pass}'s pages would add ~${Math.round(pagesMs)} ms to a pause of at least ${Math.round(fixedMs)} ms; more passes cannot shorten it much`,
  };
}

function localMinimum(history: readonly PassRecord[]): StopDecision | undefined {
  const samples = history.slice(1);
  if (samples.length < SMART_WINDOW) return undefined;
  const window = samples.slice(-SMART_WINDOW);
  const newest = window[window.length - 1] as PassRecord;
  const before = window[window.length - 2] as PassRecord;
  const lowest = Math.min(...window.slice(0, -1).map((p) => p.dirtyPages));
  if (newest.dirtyPages > lowest || newest.bytesSent < SMART_PLATEAU * before.bytesSent) return undefined;
  return {
    stop: true,
    reason: `smart: pass ${newest.pass} (${newest.dirtyPages} dirty pages) is the minimum of the last ${SMART_WINDOW} passes and the fall has flattened`,
  };
}

/**
 * Stop when the estimated pause fits the target: the bytes the final pass will send (the newest pass's, as
 * the dirty set is roughly stable by then) over the best bandwidth seen, plus the time to scan the image
 * once (the fastest pass seen is the floor of a full scan). Xen's rule is the safety net.
 */
export const downtimePolicy: StopPolicy = (history, context) => {
  const xen = xenPolicy(history, context);
  if (xen.stop) return xen;
  const last = history.at(-1);
  if (last === undefined || context.maxDowntimeMs === undefined || history.length < 2) return KEEP_GOING;
  const estimate = estimateDowntimeMs(history, context.rttMs);
  if (estimate <= context.maxDowntimeMs) {
    return { stop: true, reason: `downtime: estimated pause ${Math.round(estimate)} ms <= ${context.maxDowntimeMs} ms` };
  }
  return KEEP_GOING;
};

/**
 * The pause if the workload stopped now: the bytes the final pass will send (the newest pass's, as the
 * dirty set is roughly stable by then) at the best bandwidth seen, plus one scan of the image (the fastest
 * pass seen is its floor), plus the round trips of the final pass, verify and commit.
 */
export function estimateDowntimeMs(history: readonly PassRecord[], rttMs = 0): number {
  const last = history.at(-1);
  if (last === undefined) return Infinity;
  const bandwidth = Math.max(...history.map((p) => p.bandwidth));
  const scanFloorMs = Math.min(...history.map((p) => p.durationMs));
  if (!(bandwidth > 0)) return Infinity;
  return (last.bytesSent / bandwidth) * 1000 + scanFloorMs + PAUSE_ROUND_TRIPS * rttMs;
}

/**
 * --max-downtime is a promise: whatever a policy says (Xen's 3x/30-pass safety net included), pre-copy
 * goes on while the estimated pause is longer than the cap. `--timeout` decides what happens if it never
 * fits. Without a cap the policy's word stands.
 */
export function withDowntimeCap(policy: StopPolicy): StopPolicy {
  return (history, context) => {
    const decision = policy(history, context);
    const cap = context.maxDowntimeMs;
    if (!decision.stop || cap === undefined) return decision;
    const estimate = estimateDowntimeMs(history, context.rttMs);
    return estimate <= cap ? decision : KEEP_GOING;
  };
}

export const POLICIES: Readonly<Record<PolicyName, StopPolicy>> = {
  smart: smartPolicy,
  xen: xenPolicy,
  downtime: downtimePolicy,
};

export const isPolicyName = (name: string): name is PolicyName => Object.hasOwn(POLICIES, name);
