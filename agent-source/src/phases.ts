/**
 * The source's migration phases and the one function that moves between them. The orchestrator does the
 * I/O and reports what happened; `step` decides what that means. The line that matters most: a failure
 * before GO is a rollback (the source resumes, nothing lost); a failure after GO is "outcome unknown" (the
 * target may be running the workload, so the source must never resume it).
 *
 *   connecting -> handshake -> precopy(0) -> precopy(1) ... -> pausing -> final-pass -> state -> verify
 *     -> commit-wait -> go-sent -> done
 *   precopy(n) --reconnected--> precopy(n+1)   (a cut during pre-copy that a reconnect healed)
 *   any phase before go-sent --failed--> rollback;  go-sent --failed--> unknown
 */
import type { FerryError } from '@ferry/protocol';

export type Phase =
  | { readonly name: 'connecting' }
  | { readonly name: 'handshake' }
  | { readonly name: 'precopy'; readonly pass: number }
  | { readonly name: 'pausing'; readonly pass: number; readonly reason: string }
  | { readonly name: 'final-pass'; readonly pass: number }
  | { readonly name: 'state' }
  | { readonly name: 'verify' }
  | { readonly name: 'commit-wait' }
  | { readonly name: 'go-sent' }
  | { readonly name: 'done' }
  | { readonly name: 'rollback'; readonly error: FerryError; readonly from: Phase['name'] }
  | { readonly name: 'unknown'; readonly error: FerryError };

export type PhaseEvent =
  | { readonly kind: 'connected' }
  | { readonly kind: 'welcomed' }
  | { readonly kind: 'pass-done'; readonly stop: false }
  | { readonly kind: 'pass-done'; readonly stop: true; readonly reason: string }
  /** The link was cut during pre-copy and a new one resumed the session: the cut pass is started over. */
  | { readonly kind: 'reconnected' }
  | { readonly kind: 'paused' }
  | { readonly kind: 'final-pass-done' }
  | { readonly kind: 'state-sent' }
  | { readonly kind: 'verified' }
  | { readonly kind: 'commit-ready' }
  | { readonly kind: 'resumed' }
  | { readonly kind: 'failed'; readonly error: FerryError };

export const INITIAL_PHASE: Phase = { name: 'connecting' };

export class IllegalTransition extends Error {
  override readonly name = 'IllegalTransition';
}

export function step(phase: Phase, event: PhaseEvent): Phase {
  if (event.kind === 'failed') return fail(phase, event.error);
  switch (phase.name) {
    case 'connecting':
      if (event.kind === 'connected') return { name: 'handshake' };
      break;
    case 'handshake':
      if (event.kind === 'welcomed') return { name: 'precopy', pass: 0 };
      break;
    case 'precopy':
      if (event.kind === 'reconnected') return { name: 'precopy', pass: phase.pass + 1 };
      if (event.kind === 'pass-done') {
        return event.stop
          ? { name: 'pausing', pass: phase.pass + 1, reason: event.reason }
          : { name: 'precopy', pass: phase.pass + 1 };
      }
      break;
    case 'pausing':
      if (event.kind === 'paused') return { name: 'final-pass', pass: phase.pass };
      break;
    case 'final-pass':
      if (event.kind === 'final-pass-done') return { name: 'state' };
      break;
    case 'state':
      if (event.kind === 'state-sent') return { name: 'verify' };
      break;
    case 'verify':
      if (event.kind === 'verified') return { name: 'commit-wait' };
      break;
    case 'commit-wait':
      if (event.kind === 'commit-ready') return { name: 'go-sent' };
      break;
    case 'go-sent':
      if (event.kind === 'resumed') return { name: 'done' };
      break;
    case 'done':
    case 'rollback':
    case 'unknown':
      break;
    default:
      return assertNever(phase);
  }
  throw new IllegalTransition(`event ${event.kind} in phase ${phase.name}`);
}

function fail(phase: Phase, error: FerryError): Phase {
  switch (phase.name) {
    case 'go-sent':
      return { name: 'unknown', error };
    case 'done':
    case 'rollback':
    case 'unknown':
      return phase;
    default:
      return { name: 'rollback', error, from: phase.name };
  }
}

/**
 * The phases in which the workload is stopped and waits on ferry: each is bounded by a deadline that
 * rolls back (the pause hook itself is bounded by the hook timeout).
 */
export const isWorkloadPaused = (phase: Phase): boolean =>
  phase.name === 'final-pass' || phase.name === 'state' || phase.name === 'verify' || phase.name === 'commit-wait';

/** The phases that end a migration: nothing is left to run. */
export const isFinished = (phase: Phase): boolean =>
  phase.name === 'done' || phase.name === 'rollback' || phase.name === 'unknown';

/** True once GO has been sent: from here on the source must never resume the workload itself. */
export const isPastPointOfNoReturn = (phase: Phase): boolean =>
  phase.name === 'go-sent' || phase.name === 'done' || phase.name === 'unknown';

export function assertNever(value: never): never {
  throw new IllegalTransition(`unhandled phase ${JSON.stringify(value)}`);
}
