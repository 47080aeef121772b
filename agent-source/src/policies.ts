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
  /** For `downtime`: the largest pause the user accepts. */
  readonly maxDowntimeMs?: number | undefined;
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
 * CloudNet's smart stop: pre-copy stops paying off once the dirty count stops falling. Stop as soon as the
 * newest pass is a local minimum of the last SMART_WINDOW passes (it has no more dirty pages than any pass
 * before it in the window, so a tie counts, and the window is full). Pass 0 sends the whole image, so it
 * is not a sample of the dirty rate and is left out. Xen's rule stays as the safety net.
 */
export const smartPolicy: StopPolicy = (history, context) => {
  const xen = xenPolicy(history, context);
  if (xen.stop) return xen;
  const samples = history.slice(1);
  if (samples.length < SMART_WINDOW) return KEEP_GOING;
  const window = samples.slice(-SMART_WINDOW);
  const newest = window[window.length - 1] as PassRecord;
  const earlier = window.slice(0, -1);
  const lowest = Math.min(...earlier.map((p) => p.dirtyPages));
  if (newest.dirtyPages <= lowest) {
    return {
      stop: true,
      reason: `smart: pass ${newest.pass} (${newest.dirtyPages} dirty pages) is the minimum of the last ${SMART_WINDOW} passes`,
    };
  }
  return KEEP_GOING;
};

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
  const estimate = estimateDowntimeMs(history);
  if (estimate <= context.maxDowntimeMs) {
    return { stop: true, reason: `downtime: estimated pause ${Math.round(estimate)} ms <= ${context.maxDowntimeMs} ms` };
  }
  return KEEP_GOING;
};

export function estimateDowntimeMs(history: readonly PassRecord[]): number {
  const last = history.at(-1);
  if (last === undefined) return Infinity;
  const bandwidth = Math.max(...history.map((p) => p.bandwidth));
  const scanFloorMs = Math.min(...history.map((p) => p.durationMs));
  if (!(bandwidth > 0)) return Infinity;
  return (last.bytesSent / bandwidth) * 1000 + scanFloorMs;
}

export const POLICIES: Readonly<Record<PolicyName, StopPolicy>> = {
  smart: smartPolicy,
  xen: xenPolicy,
  downtime: downtimePolicy,
};

export const isPolicyName = (name: string): name is PolicyName => Object.hasOwn(POLICIES, name);
