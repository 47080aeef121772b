import { UsageError } from './usage.js';

/**
 * The one parser per unit the CLI accepts: sizes (256MiB, 1GiB, 4096), rates (100mbit, 12MB/s),
 * durations (30, 250ms, 2s) and counts (whole numbers in a range). Every one throws a UnitError, a
 * usage error (exit 2) that names the option and the syntax.
 */

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

const RATE_BIT_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };
/** As in tc(8): `bps` is bytes per second, not bits. */
const RATE_BYTE_UNITS: Record<string, number> = { bps: 1, kbps: 1e3, mbps: 1e6, gbps: 1e9 };

/** A usage error (exit 2) that names the unit syntax; the CLI needs no wrapping to report it. */
export class UnitError extends UsageError {
  override readonly name = 'UnitError';
}

/** Parses `256MiB`, `1GiB`, `64m`, `4096` into a whole number of bytes. */
export function parseSize(text: string, what = 'size'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match?.[2]?.toLowerCase() ?? '';
  const factor = SIZE_UNITS[unit];
  if (!match || factor === undefined) {
    throw new UnitError(`invalid ${what} "${text}": use a number with an optional unit, e.g. 4096, 256MiB, 1GiB`);
  }
  const bytes = Math.round(Number(match[1]) * factor);
  if (!Number.isSafeInteger(bytes)) throw new UnitError(`${what} "${text}" is too large`);
  return bytes;
}

/**
 * Parses a rate into bytes per second. Bit units (`100mbit`, `1gbit`) follow tc's spelling;
 * byte units take an optional `/s` (`12MB/s`, `512KiB/s`, `1000000`).
 */
export function parseRate(text: string, what = 'rate'): number {
  const trimmed = text.trim().toLowerCase();
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)(\/s)?$/.exec(trimmed);
  if (match) {
    const value = Number(match[1]);
    const unit = match[2] ?? '';
    const bitFactor = RATE_BIT_UNITS[unit];
    if (bitFactor !== undefined && !match[3]) return Math.round((value * bitFactor) / 8);
    const byteFactor = RATE_BYTE_UNITS[unit] ?? SIZE_UNITS[unit];
    if (byteFactor !== undefined) return Math.round(value * byteFactor);
  }
  throw new UnitError(`invalid ${what} "${text}": use e.g. 100mbit, 1gbit, 12MB/s, 512KiB/s`);
}

/** What a duration given without a suffix counts: the unit the option's help names. */
export type DurationUnit = 's' | 'ms';

const DURATION_MS: Record<DurationUnit, number> = { s: 1000, ms: 1 };

/**
 * Parses a duration into milliseconds: a number in the option's own unit (`--timeout 30` is seconds,
 * `--max-downtime 300` is milliseconds) or with an explicit `ms` or `s` suffix. Zero only if `allowZero`.
 */
export function parseDuration(text: string, what: string, unit: DurationUnit, { allowZero = false } = {}): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$/i.exec(text);
  const ms = match ? Number(match[1]) * DURATION_MS[(match[2]?.toLowerCase() as DurationUnit | undefined) ?? unit] : NaN;
  if (!Number.isFinite(ms) || (!allowZero && ms === 0)) {
    const seconds = unit === 's' ? 'seconds' : 'milliseconds';
    const range = allowZero ? `a number of ${seconds} >= 0` : `a positive number of ${seconds}`;
    throw new UnitError(`invalid ${what} "${text}": use ${range}, or add ms or s, e.g. ${unit === 's' ? '30, 1.5, 500ms' : '300, 2s'}`);
  }
  return ms;
}

/** Parses a whole number from `min` to `max` (worker threads, limits, seeds). */
export function parseCount(text: string, what: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new UnitError(`invalid ${what} "${text}": use a whole number ${range}`);
  }
  return value;
}

/** 1536 -> "1.5 KiB"; for tables and progress lines. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}
