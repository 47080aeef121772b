import type { PolicyName } from './policies.js';
import type { ThrottleMode } from './throttle-policy.js';
import type { TargetCredentials } from './connection.js';
import type { StateBlob } from './hooks.js';

export interface SourceImage {
  readonly name: string;
  readonly path: string;
}

export interface MigrateOptions extends TargetCredentials {
  /** ws://host:port or wss://host:port (path defaults to /migrate). */
  readonly url: string;
  readonly migrationId: string;
  readonly images: readonly SourceImage[];
  readonly pageSize: number;
  /** Files sent as state blobs after the pause (--state NAME=PATH). */
  readonly stateFiles: readonly StateBlob[];
  readonly policy: PolicyName;
  readonly maxDowntimeMs?: number | undefined;
  readonly delta: boolean;
  readonly deltaCacheBytes: number;
  readonly compress: 'auto' | 'always' | 'never';
  readonly rateLimitBytesPerSec?: number | undefined;
  /** Pace the pages to the link the source measures (ignored with a rate limit; an older target cannot be paced to). */
  readonly pacing: boolean;
  readonly workers: number;
  /** Whole-migration limit for pre-copy; what happens then is `onTimeout`. */
  readonly timeoutMs?: number | undefined;
  readonly onTimeout: 'cancel' | 'force';
  /** auto: slow the workload (through MigrateContext.throttle) when pre-copy does not converge. */
  readonly throttle: ThrottleMode;
  /** How long to wait for any single answer from the target. */
  readonly replyTimeoutMs: number;
  readonly verifyRetries: number;
  /** After a cut during pre-copy, how long to keep trying to reconnect and resume (0 = roll back at once). */
  readonly reconnectTimeoutMs: number;
  /** Bound on each phase the workload spends paused (final pass, state, verify, commit wait); then roll back. */
  readonly pausedTimeoutMs: number;
}

export const DEFAULT_PAGE_SIZE = 4096;
export const DEFAULT_DELTA_CACHE_BYTES = 256 * 1024 * 1024;
export const DEFAULT_REPLY_TIMEOUT_MS = 60_000;
export const DEFAULT_VERIFY_RETRIES = 3;
export const DEFAULT_RECONNECT_TIMEOUT_MS = 30_000;
export const DEFAULT_PAUSED_TIMEOUT_MS = 120_000;
/** Page-hash table entries per VERIFY block digest: a mismatch is narrowed to ranges of this many pages. */
export const VERIFY_BLOCK_PAGES = 1024;
