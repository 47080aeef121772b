export { startTarget, DEFAULT_TARGET_LIMITS, DEFAULT_RESUME_GRACE_MS, type TargetOptions, type TargetLimits, type RunningTarget, type MigrationEnd } from './server.js';
export type { CommitHook, CommitContext, Prelaunched, Prelauncher, TargetEvent } from './types.js';
export {
  BEFORE_FIRST_PASS, checkAccepted, checkArrival, isFinished, nextPassOrder, step, survivesDisconnect, type PassOrder, type TargetPhase, type TargetPhaseEvent,
} from './phases.js';
export { TargetSession, type Peer, type SessionContext } from './session.js';
export { CopySlots } from './seed.js';
export { DEFAULT_BASE_PAGE_SIZE, type BaseImage } from './base.js';
export { TargetMetricsFeed } from './metrics-feed.js';
export { PageHashTable, HASH_CHUNK_PAGES, DENSE_AT, DENSE_CHUNK_BYTES } from './hash-table.js';
export { SparseHashes, SPARSE_SLOT_BYTES } from './sparse-hashes.js';
export { TableBudget, type TableAccount, type TableHolder } from './budget.js';
export { UNCHARGED, type TableMemory } from './table-memory.js';
export { privatePaths, publicMessage, type PrivatePath } from './public-message.js';
export { YoungGarbage } from './young-garbage.js';
export { FrameSocket, type FrameHandlers } from './frame-socket.js';
