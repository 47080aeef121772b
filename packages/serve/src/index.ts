export { DEFAULT_HOOK_TIMEOUT_MS, runHook, type HookRun } from './hooks.js';
