export { DEFAULT_HOOK_TIMEOUT_MS, prepareHook, runHook, type HookRun, type PreparedHook } from './hooks.js';
export { accessPolicy, authorize, isLoopback, refuseUpgrade, type AccessPolicy, type AccessPolicyOptions, type AuthDecision, type Credential } from './auth.js';
export { checkContentType, checkHost, checkOrigin, type CheckResult } from './request-checks.js';
export { EventFeed, MAX_WATCHER_BUFFERED_BYTES } from './events.js';
export {
  EVENT_NAMES,
  type ConvergenceFields, type DaemonLine, type DaemonStatus, type DaemonSummary, type DirtyLogSummary, type DiskSummary, type EncodingTotals,
  type FeedEvent, type MigrationEnd, type MigrationResult, type MigrationSummary, type PacingSummary, type PassRecord, type PauseStep, type PauseStepName, type SourceDaemonEvent, type SourceEvent,
  type SourceFeedEvent, type SourceMigrationStatus, type SourceStatus, type StatusEvent, type TargetEvent, type TargetMigrationStatus,
  type TargetPhase, type TargetStatus,
} from './vocabulary.js';
export { listenOn, type ListeningAddress } from './listen.js';
export { DEFAULT_PRE_AUTH, PreAuthGuard, type PreAuthLimits } from './preauth.js';
export { DaemonMetrics, type ByteKind, type EndFigures, type EndResult, type LiveFigures, type MetricsSource, type PageEncodingName } from './metrics.js';
export { AutopilotMetrics, type AutopilotResult, type PeriodDollars } from './autopilot-metrics.js';
export { serveStatus, type RunningStatusServer, type StatusServerOptions } from './status-server.js';
export { sendJson, serveOps, type OpsRoutes } from './ops-routes.js';
export { READ_ONLY_PATHS } from './page-cookie.js';
export { DEFAULT_LOGIN_LIMITS, LoginLimiter, loginKey, type LoginLimits } from './login-limiter.js';
export { CloseCode, FrameReader, isValidCloseCode, unmask, type FrameEvent } from './ws-frames.js';
export { closePayload, serverFrameHeader, ServerOpcode } from './ws-writer.js';
export { checkWebSocketUpgrade, type UpgradeCheck } from './ws-handshake.js';
