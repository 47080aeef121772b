export { startTarget, DEFAULT_TARGET_LIMITS, DEFAULT_RESUME_GRACE_MS, type TargetOptions, type TargetLimits, type RunningTarget, type MigrationEnd } from './server.js';
export type { CommitHook, CommitContext, Prelaunched, Prelauncher, TargetEvent } from './types.js';
export {
  afterCommitReady, BEFORE_FIRST_PASS, checkAccepted, checkArrival, isFinished, nextPassOrder, nextPhase, survivesDisconnect, type PassOrder, type TargetPhase,
} from './phases.js';
export { TargetSession, type Peer, type SessionContext } from './session.js';
export { CopySlots } from './seed.js';
export { DEFAULT_BASE_PAGE_SIZE, type BaseImage } from './base.js';
export { TargetMetricsFeed } from './metrics-feed.js';
export { YoungGarbage } from './young-garbage.js';
