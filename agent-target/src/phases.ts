import { ErrorCode, FerryError, MessageType, messageTypeName } from '@ferry/protocol';
import type { TargetPhase } from '@ferry/serve';

/**
 * The target's migration phases. `precopy` may be detached (connection lost) and resumed; from `paused`
 * on, a lost connection fails the migration because the source rolls back.
 *
 *   precopy --PAUSED--> paused --(all images verified)--> verified --(COMMIT_READY sent)--> commit-ready
 *     --GO--> committing --> committed
 *   any --ABORT / error / cut after pause--> failed
 *
 * `step` is the one function that moves between them, in the style of the source's phases.ts.
 *
 * `verified` is the time the target spends making the images durable before it says COMMIT_READY: a GO
 * then is a protocol error, because the source cannot have heard COMMIT_READY yet.
 */
export type { TargetPhase };

const ACCEPTS: Record<TargetPhase, ReadonlySet<number>> = {
  precopy: new Set([MessageType.PassBegin, MessageType.Pages, MessageType.PassEnd, MessageType.Paused, MessageType.Abort]),
  paused: new Set([
    MessageType.PassBegin, MessageType.Pages, MessageType.PassEnd, MessageType.State, MessageType.StateChunk,
    MessageType.StateEnd, MessageType.Verify, MessageType.Abort,
  ]),
  verified: new Set([MessageType.Abort]),
  'commit-ready': new Set([MessageType.Go, MessageType.Abort]),
  committing: new Set(),
  committed: new Set(),
  failed: new Set(),
};

/** Throws the error the source is told when a message arrives in a phase where it makes no sense. */
export function checkAccepted(phase: TargetPhase, type: number): void {
  if (!ACCEPTS[phase].has(type)) {
    const hint = phase === 'verified' && type === MessageType.Go ? ' (GO before COMMIT_READY)' : '';
    throw new FerryError(ErrorCode.UnexpectedMessage, `${messageTypeName(type)} is not expected in phase ${phase}${hint}`);
  }
}

/**
 * Checks made when a message arrives rather than when its turn in the queue comes: GO is the point of
 * no return, and one sent before COMMIT_READY went out is an error even if the target is ready by the
 * time it would be handled.
 */
export function checkArrival(phase: TargetPhase, type: number): void {
  if (type === MessageType.Go && phase !== 'commit-ready') {
    throw new FerryError(ErrorCode.UnexpectedMessage, `GO is not expected in phase ${phase} (GO before COMMIT_READY)`);
  }
}

/** What moves a session between phases, as the source's `PhaseEvent`s do for the source. */
export type TargetPhaseEvent =
  /** A message was handled; `allVerified` says whether every image has now passed VERIFY. */
  | { readonly kind: 'message'; readonly type: number; readonly allVerified: boolean }
  /** COMMIT_READY went out: only now may GO come. */
  | { readonly kind: 'commit-ready-sent' }
  | { readonly kind: 'committed' }
  | { readonly kind: 'failed' };

/** The one function that moves a session between phases; a message the phase does not accept throws. */
export function step(phase: TargetPhase, event: TargetPhaseEvent): TargetPhase {
  switch (event.kind) {
    case 'failed':
      return 'failed';
    case 'commit-ready-sent':
      // A session that failed while its files were made durable stays failed.
      return phase === 'verified' ? 'commit-ready' : phase;
    case 'committed':
      if (phase !== 'committing') throw new Error(`a session cannot commit from phase ${phase}`);
      return 'committed';
    case 'message':
      return afterMessage(phase, event.type, event.allVerified);
  }
}

function afterMessage(phase: TargetPhase, type: number, allVerified: boolean): TargetPhase {
  checkAccepted(phase, type);
  if (type === MessageType.Abort) return 'failed';
  if (phase === 'precopy' && type === MessageType.Paused) return 'paused';
  if (phase === 'paused' && type === MessageType.Verify && allVerified) return 'verified';
  if (phase === 'commit-ready' && type === MessageType.Go) return 'committing';
  return phase;
}

/** Phases in which the session has ended and its slot is free. */
export const isFinished = (phase: TargetPhase): boolean => phase === 'committed' || phase === 'failed';

/** Whether a session in this phase survives a lost connection (the source will reconnect and resume). */
export const survivesDisconnect = (phase: TargetPhase): boolean => phase === 'precopy';

/**
 * Where the source is in its passes: the newest pass begun, and whether its PASS_END has come. Passes
 * only move forward (a resumed source starts the cut pass over under the next number); PAGES belong to
 * the pass that is open, and PAUSED comes between passes, so the target's idea of a pass (its ACKs, the
 * pages the source may stop tracking) is the source's.
 */
export interface PassOrder {
  readonly pass: number;
  readonly open: boolean;
}

export const BEFORE_FIRST_PASS: PassOrder = { pass: -1, open: false };

type PassMessage = { readonly type: number; readonly pass?: number };

/** The pass order after `message`, or the error the source is told when it breaks it. Pure. */
export function nextPassOrder(order: PassOrder, message: PassMessage): PassOrder {
  const out = (text: string): FerryError => new FerryError(ErrorCode.UnexpectedMessage, text);
  const current = order.pass < 0 ? 'before the first pass' : `in pass ${order.pass}`;
  switch (message.type) {
    case MessageType.PassBegin: {
      const pass = message.pass ?? -1;
      if (pass <= order.pass) throw out(`PASS_BEGIN of pass ${pass} ${current}: passes only move forward`);
      return { pass, open: true };
    }
    case MessageType.Pages:
    case MessageType.PassEnd: {
      const pass = message.pass ?? -1;
      if (order.open && pass === order.pass) return message.type === MessageType.PassEnd ? { pass, open: false } : order;
      const name = message.type === MessageType.Pages ? 'PAGES' : 'PASS_END';
      if (pass > order.pass) throw out(`${name} of pass ${pass} before its PASS_BEGIN (${current})`);
      throw out(pass === order.pass ? `${name} of pass ${pass} after its PASS_END` : `${name} of pass ${pass} ${current}: that pass is over`);
    }
    case MessageType.Paused:
      if (order.open) throw out(`PAUSED before PASS_END of pass ${order.pass}: the source pauses between passes`);
      return order;
    default:
      return order;
  }
}
