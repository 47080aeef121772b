import { DEFAULT_HOOK_TIMEOUT_MS } from '@ferry/serve';
import { parseDuration } from './units.js';

/** --hook-timeout SECONDS, for every hook command (both agents' commands take it). */
export const hookTimeoutMs = (text: string | undefined): number =>
  text !== undefined ? parseDuration(text, '--hook-timeout', 's') : DEFAULT_HOOK_TIMEOUT_MS;
