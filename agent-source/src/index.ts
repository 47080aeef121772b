export { migrate, type MigrateContext } from './migration.js';
export { startSource, type MigrationRequest, type MigrationSeams, type RunningSource, type SourceOptions } from './daemon.js';
export {
  DEFAULT_DELTA_CACHE_BYTES,
  DEFAULT_PAGE_SIZE,
  DEFAULT_PAUSED_TIMEOUT_MS,
  DEFAULT_RECONNECT_TIMEOUT_MS,
  DEFAULT_REPLY_TIMEOUT_MS,
  DEFAULT_VERIFY_RETRIES,
  VERIFY_BLOCK_PAGES,
  type MigrateOptions,
  type SourceImage,
} from './options.js';
export type { DirtyLogSummary, DiskSummary, MigrationResult, MigrationSummary, SourceEvent, EncodingTotals } from './events.js';
export { DirtyTracking, type DirtyTracker, type FreezeContext } from './dirty-tracking.js';
export type { SourceHooks, StateBlob } from './hooks.js';
export {
  adviseRecovery, defaultStateDir, isAlive, isRunning, MigrationJournal, readJournals, removeJournal,
  type JournalScan, type RecoveryAdvice, type RefusedJournal,
} from './journal.js';
export { privacyProblem, type JournalEntry } from './journal-trust.js';
export { buildPauseTimeline, describePauseTimeline, type PauseMark } from './pause-timeline.js';
export { PassSender, type AfterImages, type PassOutcome, type PassScope } from './pass-sender.js';
export { TargetConnection, type ConnectOptions } from './connection.js';
export { SendMeter } from './send-meter.js';
export { SourceMetricsFeed } from './metrics-feed.js';
export { retryUntil } from './resume.js';
export { verifyImages, type VerifyDeps } from './verify.js';
export {
  DRAIN_PASSES,
  PAUSE_ROUND_TRIPS,
  POLICIES,
  SMART_PLATEAU,
  SMART_MIN_GAIN_MS,
  SMART_MIN_GAIN_SHARE,
  XEN_MAX_PASSES,
  XEN_MAX_SENT_FACTOR,
  XEN_MIN_DIRTY_PAGES,
  bytesHiddenByFinalScan,
  downtimePolicy,
  estimateDowntimeMs,
  finalScanHides,
  isPolicyName,
  passWhileDraining,
  smartPolicy,
  withDowntimeCap,
  xenPolicy,
  type InFlight,
  type PassRecord,
  type PolicyContext,
  type PolicyName,
  type StopDecision,
  type StopPolicy,
} from './policies.js';
export { INITIAL_PHASE, IllegalTransition, isFinished, isPastPointOfNoReturn, isWorkloadPaused, step, type Phase, type PhaseEvent } from './phases.js';
export { RateLimiter } from './rate-limiter.js';
export { Pacer, type PacerMode, type PacerState } from './pacer.js';
export {
  FULL_SPEED,
  nextThrottle,
  THROTTLE_INCREMENT,
  THROTTLE_INITIAL,
  THROTTLE_MAX,
  THROTTLE_PERIOD_MS,
  THROTTLE_STRIKES,
  THROTTLE_TRIGGER,
  type ThrottleMode,
  type ThrottleObservation,
  type ThrottleState,
} from './throttle-policy.js';
export type { ThrottleDriver } from './throttle-driver.js';
export { DEFAULT_PAUSE_TARGET_MS, LONG_PAUSE_MS } from './convergence.js';
export { FULL_CHECK_EVERY, SoftDirtyTracker, type SoftDirtyImage, type SoftDirtyOptions } from './soft-dirty/tracker.js';
export { allThreadsStopped, ProcessStopper, STOP_WAIT_MS } from './soft-dirty/freezer.js';
export {
  chooseDirtyLogs, DIRTY_LOG_MODES, isDirtyLogMode, probeSoftDirty, processesMapping,
  type DirtyLogChoice, type DirtyLogImage, type DirtyLogMode, type DirtyWriter, type SoftDirtySupport,
} from './soft-dirty/setup.js';
export {
  parseMaps, parseStat, readWindow, regionsOfFile, regionWindow, splitDev, uncovered, unmappedSince, type MappedRegion, type RegionWindow,
} from './soft-dirty/proc.js';
