export { DEFAULT_HOOK_TIMEOUT_MS, runHook, type HookRun } from './hooks.js';
export { authorize, isLoopback, type AuthDecision } from './auth.js';
export { EventFeed, MAX_WATCHER_BUFFERED_BYTES } from './events.js';
export { listenOn, type ListeningAddress } from './listen.js';
export { DaemonMetrics, type ByteKind, type EndFigures, type EndResult, type LiveFigures, type PageEncodingName } from './metrics.js';
export { serveOps, type OpsRoutes } from './ops-routes.js';
export { READ_ONLY_PATHS } from './page-cookie.js';
