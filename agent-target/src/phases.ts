import { ErrorCode, FerryError, MessageType, messageTypeName } from '@ferry/protocol';

/**
 * The target's migration phases. `precopy` may be detached (connection lost) and resumed; from `paused`
 * on, a lost connection fails the migration because the source rolls back.
 *
 *   precopy --PAUSED--> paused --(all images verified)--> commit-ready --GO--> committing --> committed
 *   any --ABORT / error / cut after pause--> failed
 */
export type TargetPhase = 'precopy' | 'paused' | 'commit-ready' | 'committing' | 'committed' | 'failed';

const ACCEPTS: Record<TargetPhase, ReadonlySet<number>> = {
  precopy: new Set([MessageType.PassBegin, MessageType.Pages, MessageType.PassEnd, MessageType.Paused, MessageType.Abort]),
  paused: new Set([
    MessageType.PassBegin, MessageType.Pages, MessageType.PassEnd, MessageType.State, MessageType.StateChunk,
    MessageType.StateEnd, MessageType.Verify, MessageType.Abort,
  ]),
  'commit-ready': new Set([MessageType.Go, MessageType.Abort]),
  committing: new Set(),
  committed: new Set(),
  failed: new Set(),
};

/** Throws the error the source is told when a message arrives in a phase where it makes no sense. */
export function checkAccepted(phase: TargetPhase, type: number): void {
  if (!ACCEPTS[phase].has(type)) {
    throw new FerryError(ErrorCode.UnexpectedMessage, `${messageTypeName(type)} is not expected in phase ${phase}`);
  }
}

/** The phase after an accepted message; `allVerified` says whether every image has passed VERIFY. */
export function nextPhase(phase: TargetPhase, type: number, allVerified: boolean): TargetPhase {
  checkAccepted(phase, type);
  if (type === MessageType.Abort) return 'failed';
  if (phase === 'precopy' && type === MessageType.Paused) return 'paused';
  if (phase === 'paused' && type === MessageType.Verify && allVerified) return 'commit-ready';
  if (phase === 'commit-ready' && type === MessageType.Go) return 'committing';
  return phase;
}

/** Whether a session in this phase survives a lost connection (the source will reconnect and resume). */
export const survivesDisconnect = (phase: TargetPhase): boolean => phase === 'precopy';
