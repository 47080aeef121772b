/**
 * Stop policies: pure functions of the pass history that decide when pre-copy has done all it usefully
 * can, so the workload should pause for the final pass. No I/O, no clock: tested on recorded histories.
 */

import type { PassRecord } from '@ferry/serve';

export type { PassRecord };

export interface PolicyContext {
  readonly imageBytes: number;
  /** The largest pause the user accepts: no policy stops while the estimated pause is longer. */
  readonly maxDowntimeMs?: number | undefined;
  /** The measured round trip to the target; the pause waits on a few of them. */
  readonly rttMs?: number | undefined;
  /**
   * How long the link still needed, at the end of the pass before the newest, to deliver what was queued
   * on it: a ping's round trip above the least one seen (a lower bound while that ping is unanswered).
   * Bytes still queued when the workload pauses reach the target before verify can: they add to the pause.
   */
  readonly linkQueueMs?: number | undefined;
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
/** One more pass must be expected to shorten the pause by more than this, or this share of the pages' time, to be worth it. */
export const SMART_MIN_GAIN_MS = 10;
export const SMART_MIN_GAIN_SHARE = 0.05;
/** A pass is at the floor when its pages take no more than the fewest seen since pass 1 over this. */
export const SMART_PLATEAU = 0.8;
/** Round trips inside the pause: PAUSED and the final pages, VERIFY -> VERIFY_RESULT, GO -> RESUMED. */
export const PAUSE_ROUND_TRIPS = 3;

const KEEP_GOING: StopDecision = { stop: false };

/** The best bandwidth any pass reached (bytes/s): the link's rate, as near as the history knows it. */
export const bestBandwidth = (history: readonly PassRecord[]): number => Math.max(...history.map((p) => p.bandwidth));

/** The fastest pass (ms): every pass scans the image, so this is the floor of a scan. */
const scanFloorMs = (history: readonly PassRecord[]): number => Math.min(...history.map((p) => p.durationMs));

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
 * CloudNet's smart stop, judged by the pause: stop once another pass can no longer shorten it. The pause
 * is the final scan and round trips (the same whenever ferry stops), plus the final pass's pages and
 * whatever earlier passes still have queued on the link. Its pages part is the newest pass's bytes, as
 * encoded (deltas, LZ4), at the best bandwidth seen. Stop when all of these hold (Xen's rule stays as
 * the safety net):
 * - another pass would gain little: the pages dirtied in a pass follow its length, so the next pass's
 *   pages take about this pass's time scaled by how this pass's length compares with the one before;
 *   a shorter pass still promises a smaller set. A count still halving is converging, not done: stopping
 *   there paused with a larger dirty set than Xen reached later (compile profile: 2.8x Xen's pause);
 * - no pass since pass 1 reached clearly fewer pages (this is not a noisy high);
 * - the link has drained: the queue the last ping found, plus this pass's pages, fitted in this pass's
 *   time. Pausing with earlier passes still queued made the pause wait for them (web: 760 ms of 990).
 * Pass 0 sends the whole image and pass 1 what was dirtied during it: neither is a sample of the steady state.
 */
export const smartPolicy: StopPolicy = (history, context) => {
  const xen = xenPolicy(history, context);
  if (xen.stop) return xen;
  return pauseBottomedOut(history, context) ?? KEEP_GOING;
};

function pauseBottomedOut(history: readonly PassRecord[], context: PolicyContext): StopDecision | undefined {
  const newest = history.at(-1);
  const before = history.at(-2);
  const bandwidth = bestBandwidth(history);
  if (newest === undefined || before === undefined || history.length < 3 || !(bandwidth > 0) || !(before.durationMs > 0)) return undefined;
  const pagesMs = (p: PassRecord): number => (p.bytesSent / bandwidth) * 1000;
  const nowMs = pagesMs(newest);
  const worthMs = Math.max(SMART_MIN_GAIN_MS, SMART_MIN_GAIN_SHARE * nowMs);
  const gainMs = nowMs * Math.max(0, 1 - newest.durationMs / before.durationMs);
  if (gainMs > worthMs) return undefined;
  const fewestMs = Math.min(...history.slice(1, -1).map(pagesMs));
  if (nowMs > Math.max(fewestMs / SMART_PLATEAU, fewestMs + worthMs)) return undefined;
  const queuedMs = Math.max(0, (context.linkQueueMs ?? 0) + nowMs - newest.durationMs);
  if (queuedMs > worthMs) return undefined;
  return {
    stop: true,
    reason: `smart: pass ${newest.pass}'s pages would add ~${Math.round(nowMs)} ms to the pause and another pass would save ~${Math.round(gainMs)} ms; the link has drained`,
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
  const bandwidth = bestBandwidth(history);
  if (!(bandwidth > 0)) return Infinity;
  return (last.bytesSent / bandwidth) * 1000 + scanFloorMs(history) + PAUSE_ROUND_TRIPS * rttMs;
}

/**
 * The bytes the link carries while the final pass scans: the best bandwidth seen over the fastest pass
 * (the floor of a scan, as in `estimateDowntimeMs`). Pre-copy bytes still in flight at the pause, up to
 * this much, reach the target while the final pass is still finding its pages, ahead of them on the same
 * connection: waiting for them first only gives the workload longer to dirty pages before it pauses.
 */
export function bytesHiddenByFinalScan(history: readonly PassRecord[]): number {
  if (history.length === 0) return 0;
  const bandwidth = bestBandwidth(history);
  const scanMs = scanFloorMs(history);
  return bandwidth > 0 && scanMs > 0 ? (bandwidth * scanMs) / 1000 : 0;
}

/** At most this many passes put a stop off while the link drains; then the source waits for it instead. */
export const DRAIN_PASSES = 3;

/** The link when a pass has ended: what is still in flight, and whether the target has caught up. */
export interface InFlight {
  /** Bytes sent and not yet acknowledged by the target (undefined: a target that does not say). */
  readonly queuedBytes: number | undefined;
  /**
   * The target answered the ping sent after the pass before: it had read everything sent until then. A
   * target that is slow to read (busy starting its workload's process, say) leaves few bytes
   * unacknowledged on the link and still holds back whatever comes next, the pause's messages included.
   */
  readonly caughtUp: boolean;
}

/** Whether the link can take the pause now: the target has caught up, and the final scan hides what is left in flight. */
export function finalScanHides(history: readonly PassRecord[], inFlight: InFlight): boolean {
  return inFlight.caughtUp && inFlight.queuedBytes !== undefined && inFlight.queuedBytes <= bytesHiddenByFinalScan(history);
}

/**
 * Whether a stop should become one more pre-copy pass: the policy said stop, but the link cannot take
 * the pause yet (`finalScanHides`). The link drains while that pass runs, and the pause then comes right
 * after a pass, with the fewest pages dirtied; waiting idle for the drain instead lets the workload dirty
 * pages for the whole of it. At most DRAIN_PASSES times (a link that never drains is then waited for),
 * and never a forced stop.
 */
export function passWhileDraining(decision: StopDecision, history: readonly PassRecord[], inFlight: InFlight, drainPassesRun: number, forced: boolean): boolean {
  if (!decision.stop || forced || drainPassesRun >= DRAIN_PASSES) return false;
  return !finalScanHides(history, inFlight);
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
