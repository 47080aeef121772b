/**
 * Token bucket that paces a workload in pages per second. Pure: the caller passes the clock, so tests
 * can replay a SIGSTOP of any length without sleeping.
 *
 * The capacity is what bounds a burst. A stopped process (SIGSTOP from the migration's pause hook) sees
 * a huge gap when it continues; a real guest does not catch up on the writes it missed while paused, so
 * neither may we: the gap refills at most `burstMs` worth of tokens.
 */
export interface PacingConfig {
  /** Units (pages) per second. */
  readonly ratePerSec: number;
  /** How much time the bucket may bank; longer gaps are forgotten. */
  readonly burstMs: number;
}

export interface Bucket {
  readonly tokens: number;
  readonly atMs: number;
}

export const TICK_MS = 10;
export const BURST_MS = 50;

/** At least one whole unit, or a rate below one unit per burst window would never write anything. */
export function capacity(config: PacingConfig): number {
  return Math.max((config.ratePerSec * config.burstMs) / 1000, 1);
}

/** A bucket holding one unit, so the first tick writes at once and "ready" means "has written". */
export function startBucket(nowMs: number, config: PacingConfig): Bucket {
  return { tokens: Math.min(1, capacity(config)), atMs: nowMs };
}

/**
 * Refills for the time since the last draw (capped) and takes the whole units available; the fraction
 * stays in the bucket so low rates still average out exactly.
 */
export function draw(bucket: Bucket, nowMs: number, config: PacingConfig): { bucket: Bucket; units: number } {
  // A clock that steps backwards gives nothing rather than negative tokens.
  const elapsed = Math.max(0, nowMs - bucket.atMs);
  const tokens = Math.min(capacity(config), bucket.tokens + (elapsed * config.ratePerSec) / 1000);
  const units = Math.floor(tokens);
  return { bucket: { tokens: tokens - units, atMs: Math.max(nowMs, bucket.atMs) }, units };
}
