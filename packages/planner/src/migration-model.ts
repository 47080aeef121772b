/**
 * What one live migration puts on the wire. The paper charges a VM's memory size. ferry's pre-copy
 * re-sends what the guest dirties while a pass runs, and compresses (zero pages, LZ4, XOR deltas), so:
 *
 *   pass 0 sends the memory M; pass i+1 sends what was dirtied during pass i, D * t_i (at most M);
 *   t_i = c * R_i / B (wire bytes over the link rate); stop when the rest fits the stop budget, stops
 *   shrinking, or after MAX_PASSES; the final pass sends the rest. Wire bytes = c * sum R_i.
 *
 * `c` (wire bytes per raw byte) comes from `ferry migrate --json` runs via `calibrate`.
 */
import type { VmClass } from './scenario.js';

export type ChargeModel =
  | { readonly kind: 'memory' }
  | { readonly kind: 'precopy'; readonly compression: number };

/** ferry's xen policy stops after 30 passes; the smart policy stops earlier, so this bounds both. */
const MAX_PASSES = 30;
/** The rest is sent in the final pass once it takes under this long (ferry's default pause budget). */
const STOP_SECONDS = 0.3;

export interface MigrationCost { readonly bytes: number; readonly seconds: number }

/** Wire bytes and time of one migration of a `vmClass` VM over a path of `linkBytesPerSecond`. */
export function migrationCost(vmClass: VmClass, linkBytesPerSecond: number, charge: ChargeModel): MigrationCost {
  const memory = vmClass.memoryGiB * 2 ** 30;
  if (charge.kind === 'memory') return { bytes: memory, seconds: memory / linkBytesPerSecond };
  const c = charge.compression;
  const dirty = vmClass.dirtyMBps * 1e6;
  let rest = memory;
  let raw = 0;
  for (let pass = 1; pass < MAX_PASSES; pass++) {
    raw += rest;
    const next = Math.min(memory, dirty * ((c * rest) / linkBytesPerSecond));
    const stop = (c * next) / linkBytesPerSecond <= STOP_SECONDS || next >= rest;
    rest = next;
    if (stop) break;
  }
  raw += rest;
  return { bytes: c * raw, seconds: (c * raw) / linkBytesPerSecond };
}

export interface Calibration {
  /** Wire bytes per raw page byte sent, the median over the runs. */
  readonly compression: number;
  readonly runs: readonly CalibrationRun[];
}
export interface CalibrationRun {
  readonly migrationId: string;
  readonly imageBytes: number;
  readonly bytesSent: number;
  readonly passes: number;
  /** bytesSent / imageBytes: what the paper's memory charge assumes to be 1. */
  readonly wirePerMemory: number;
  readonly compression: number;
}

const PAGE_BYTES = 4096;

/**
 * Reads the summary lines of `ferry migrate --json` output (NDJSON; progress lines are skipped). A
 * summary has `result`, `migrationId`, `imageBytes`, `bytesSent`, `pagesSent`, `passes`; ferry's
 * default 4 KiB pages turn pagesSent into raw bytes. Throws with the line number of a bad line.
 */
export function calibrate(ndjson: string): Calibration {
  const runs: CalibrationRun[] = [];
  ndjson.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`line ${index + 1}: not JSON`);
    }
    const s = value as Record<string, unknown>;
    if (typeof s['result'] !== 'string' || s['result'] !== 'committed') return;
    const [imageBytes, bytesSent, pagesSent, passes] = [s['imageBytes'], s['bytesSent'], s['pagesSent'], s['passes']].map(Number) as [number, number, number, number];
    if (!(imageBytes > 0 && bytesSent > 0 && pagesSent > 0)) throw new Error(`line ${index + 1}: a summary needs imageBytes, bytesSent and pagesSent above 0`);
    runs.push({ migrationId: String(s['migrationId']), imageBytes, bytesSent, passes, wirePerMemory: bytesSent / imageBytes, compression: bytesSent / (pagesSent * PAGE_BYTES) });
  });
  if (runs.length === 0) throw new Error('no committed migration summary (a `ferry migrate --json` last line) found');
  const sorted = runs.map((r) => r.compression).sort((a, b) => a - b);
  return { compression: sorted[Math.floor(sorted.length / 2)]!, runs };
}
