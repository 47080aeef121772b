export { DEFAULT_HOOK_TIMEOUT_MS, runHook, type HookRun } from './hooks.js';
export { authorize, isLoopback, type AuthDecision } from './auth.js';
export { EventFeed, MAX_WATCHER_BUFFERED_BYTES } from './events.js';
