/**
 * The throttle policy: a pure function of the pass history that says how hard to slow the workload so
 * that pre-copy converges. It follows QEMU's auto-converge (migration/ram.c, migration_trigger_throttle):
 * a period is "high" when the workload dirtied more than half of what was sent in it; two high periods in
 * a row step the throttle up (20% first, then +10% per step, at most 99%).
 *
 * What ferry measures differs from QEMU's dirty log, and that shapes the periods:
 * - Dirtied bytes are counted in wire bytes: pass n carries what was dirtied while pass n-1 was on the
 *   wire, so `bytesSent(n) > 0.5 * bytesSent(n-1)` is QEMU's test in the units that decide the pause (a
 *   page whose XOR delta is 40 bytes costs 40 bytes, not 4 KiB).
 * - A pass end is the only fresh measurement (a dirtied page is seen when the next pass hashes it), but on
 *   a slow link a pass lasts tens of seconds. So a period is also each PERIOD_MS inside a pass: the newest
 *   verdict stands for it, unless the running pass has already carried more than half of the previous
 *   one (then it is high, and known to be). QEMU's periods are about as long (one bitmap sync a second).
 * - The workload is let go one step when a pass converges: its estimated pause fits the target.
 * No I/O and no clock: the caller says when a period ends; tested on recorded histories.
 */
import type { PassRecord } from './policies.js';

export type ThrottleMode = 'auto' | 'off';

/** QEMU's defaults: cpu-throttle-initial 20, cpu-throttle-increment 10, max-cpu-throttle 99. */
export const THROTTLE_INITIAL = 20;
export const THROTTLE_INCREMENT = 10;
export const THROTTLE_MAX = 99;
/** A period is high when dirtied bytes exceed this share of the bytes sent (QEMU's throttle-trigger-threshold 50). */
export const THROTTLE_TRIGGER = 0.5;
/** High periods in a row before a step (QEMU's dirty_rate_high_cnt >= 2). */
export const THROTTLE_STRIKES = 2;
/** The length of a period inside a pass. */
export const THROTTLE_PERIOD_MS = 1000;

export interface ThrottleState {
  /** Percent of the workload's time taken away, 0 (full speed) to THROTTLE_MAX. */
  readonly level: number;
  /** High periods in a row since the last step. */
  readonly strikes: number;
  /** The newest verdict: did the last measurement say the workload dirties faster than pre-copy sends? */
  readonly high: boolean;
  /** Why the level is what it is, for logs and events. */
  readonly reason: string;
}

export const FULL_SPEED: ThrottleState = { level: 0, strikes: 0, high: false, reason: 'full speed' };

export type ThrottleObservation =
  /** A pass ended; `converged` says whether its estimated pause fits the target. */
  | { readonly kind: 'pass-end'; readonly history: readonly PassRecord[]; readonly converged: boolean }
  /** A period ended inside a running pass, which has sent `passBytes` so far. */
  | { readonly kind: 'period'; readonly history: readonly PassRecord[]; readonly passBytes: number };

export function nextThrottle(state: ThrottleState, observation: ThrottleObservation): ThrottleState {
  const { history } = observation;
  if (observation.kind === 'pass-end') {
    const last = history.at(-1);
    const previous = history.at(-2);
    if (last === undefined || previous === undefined) return state;
    if (observation.converged) return relax(state, `pass ${last.pass} converged`);
    const high = last.bytesSent > THROTTLE_TRIGGER * previous.bytesSent;
    return count({ ...state, high }, high, `pass ${last.pass} sent ${share(last.bytesSent, previous.bytesSent)} of pass ${previous.pass}`);
  }
  const previous = history.at(-1);
  // Pass 0 sends the whole image: nothing to compare it with.
  if (previous === undefined) return state;
  if (observation.passBytes > THROTTLE_TRIGGER * previous.bytesSent) {
    return count({ ...state, high: true }, true, `the running pass already sent ${share(observation.passBytes, previous.bytesSent)} of pass ${previous.pass}`);
  }
  return count(state, state.high, state.reason);
}

function count(state: ThrottleState, high: boolean, why: string): ThrottleState {
  if (!high) return { ...state, strikes: 0 };
  const strikes = state.strikes + 1;
  if (strikes < THROTTLE_STRIKES) return { ...state, strikes, reason: why };
  const level = state.level === 0 ? THROTTLE_INITIAL : Math.min(THROTTLE_MAX, state.level + THROTTLE_INCREMENT);
  return { level, strikes: 0, high, reason: level === state.level ? state.reason : why };
}

function relax(state: ThrottleState, why: string): ThrottleState {
  if (state.level === 0) return { ...FULL_SPEED, reason: state.reason };
  const level = state.level - THROTTLE_INCREMENT < THROTTLE_INITIAL ? 0 : state.level - THROTTLE_INCREMENT;
  return { level, strikes: 0, high: false, reason: why };
}

const share = (part: number, whole: number): string => (whole > 0 ? `${Math.round((part / whole) * 100)}%` : 'more than all');
