import type { ErrorCode, FerryError } from '@ferry/protocol';
import type { PassRecord } from './policies.js';

export interface EncodingTotals {
  pagesSent: number;
  zeroPages: number;
  rawPages: number;
  lz4Pages: number;
  deltaPages: number;
  copyPages: number;
  /** Record bytes (header and payload) of the pages of each encoding, over all passes. */
  zeroBytes: number;
  rawBytes: number;
  lz4Bytes: number;
  deltaBytes: number;
  copyBytes: number;
}

/** A tracked image (a guest disk): what it cost, and how many passes read it (pass 0 included). */
export interface DiskSummary {
  readonly bytesSent: number;
  readonly passes: number;
}

export type MigrationResult = 'committed' | 'rolled-back' | 'unknown';

/** How an image's dirty pages were found (`soft-dirty`, `hash`, `qemu-bitmap`), and why that way. */
export interface DirtyLogSummary {
  readonly method: string;
  readonly reason: string;
}

/** The last line of `ferry migrate --json`, and what `migrate()` resolves to. */
export interface MigrationSummary extends EncodingTotals {
  readonly result: MigrationResult;
  readonly migrationId: string;
  readonly bytesSent: number;
  readonly totalMs: number;
  readonly pauseMs: number;
  readonly passes: number;
  readonly imageBytes: number;
  readonly stopReason?: string;
  readonly error?: { readonly code: ErrorCode; readonly message: string };
  readonly history: readonly PassRecord[];
  /** Per tracked image (guest disk), by name; absent when the migration has none. */
  readonly disks?: Readonly<Record<string, DiskSummary>>;
  /** Pages read (and hashed) to find the dirty ones, over every pass (set by every migration this version runs). */
  readonly pagesRead?: number;
  /** The final pass (workload paused): pages it read, and those of them it found changed and sent. */
  readonly finalPagesRead?: number;
  readonly finalDirtyPages?: number;
  /** Per image, by name. */
  readonly dirtyLog?: Readonly<Record<string, DirtyLogSummary>>;
}

/** Why pre-copy goes the way it goes, on progress and pass-end events (convergence.ts computes them). */
export interface ConvergenceFields {
  /** Bytes per second the workload dirtied (pages found dirty over the time the pass before took). */
  readonly dirtyRate?: number;
  /** Bytes per second the newest pass put on the wire. */
  readonly sendRate?: number;
  /** Percent of the workload's time taken away by the throttle. */
  readonly throttle: number;
  /** The pause if the workload stopped now. */
  readonly expectedPauseMs?: number;
  /** The round trip to the target that estimate counts (the least ping seen so far). */
  readonly rttMs: number;
  /** The link queue the newest stop decision counted (see PolicyContext.linkQueueMs). */
  readonly linkQueueMs?: number;
}

/** Progress as it happens; the CLI renders these as a bar on a TTY or as NDJSON with --json. */
export type ProgressEvent =
  | { readonly event: 'connected'; readonly url: string; readonly migrationId: string }
  | { readonly event: 'pass-begin'; readonly pass: number; readonly final: boolean }
  | ({ readonly event: 'progress'; readonly pass: number; readonly bytesSent: number; readonly pagesSent: number; readonly bytesReceived: number; readonly rate: number; readonly imageBytes: number; readonly passFraction: number; readonly passEtaMs?: number; readonly diskBytesSent?: number } & Partial<ConvergenceFields>)
  | ({ readonly event: 'pass-end'; readonly pass: number; readonly dirtyPages: number; readonly bytesSent: number; readonly durationMs: number; readonly deltaCacheBytes?: number; readonly bandwidth: number; readonly stop: boolean; readonly final: boolean; readonly reason?: string } & Partial<ConvergenceFields>)
  /** The throttle level changed (auto-converge), and why. */
  | { readonly event: 'throttle'; readonly level: number; readonly reason: string }
  /** Before a pause expected to be long (over 2 s without --max-downtime, or forced by --on-timeout force). */
  | { readonly event: 'long-pause'; readonly expectedPauseMs: number; readonly reason: string }
  | { readonly event: 'disconnected'; readonly pass: number; readonly reason: string }
  | { readonly event: 'reconnected'; readonly pass: number; readonly attempts: number; readonly resumed: boolean; readonly heldPages: number }
  | { readonly event: 'paused'; readonly pass: number; readonly reason: string }
  | { readonly event: 'state'; readonly name: string; readonly bytes: number }
  | { readonly event: 'verify'; readonly image: string; readonly ok: boolean; readonly mismatchedPages: number }
  | { readonly event: 'commit-ready' }
  | { readonly event: 'go' }
  | { readonly event: 'resumed'; readonly pauseMs: number }
  | { readonly event: 'rollback'; readonly code: ErrorCode; readonly reason: string };

const NO_PAGES: EncodingTotals = { pagesSent: 0, zeroPages: 0, rawPages: 0, lz4Pages: 0, deltaPages: 0, copyPages: 0, zeroBytes: 0, rawBytes: 0, lz4Bytes: 0, deltaBytes: 0, copyBytes: 0 };

/** The summary of a finished migration; `passes` counts the final pass when the workload was paused. */
export function summarize(run: {
  readonly result: MigrationResult;
  readonly migrationId: string;
  readonly totalMs: number;
  readonly pauseMs: number;
  readonly imageBytes: number;
  readonly bytesSent: number;
  readonly totals: EncodingTotals | undefined;
  readonly history: readonly PassRecord[];
  readonly paused: boolean;
  readonly stopReason: string | undefined;
  readonly error: FerryError | undefined;
  readonly disks?: Readonly<Record<string, DiskSummary>> | undefined;
  readonly finalPass?: { readonly pagesRead: number; readonly dirtyPages: number } | undefined;
  readonly dirtyLog?: Readonly<Record<string, DirtyLogSummary>> | undefined;
}): MigrationSummary {
  return {
    result: run.result,
    migrationId: run.migrationId,
    bytesSent: run.bytesSent,
    totalMs: Math.round(run.totalMs),
    pauseMs: Math.round(run.pauseMs),
    passes: run.history.length + (run.paused ? 1 : 0),
    ...(run.totals ?? NO_PAGES),
    imageBytes: run.imageBytes,
    ...(run.stopReason ? { stopReason: run.stopReason } : {}),
    ...(run.error ? { error: { code: run.error.code, message: run.error.message } } : {}),
    history: run.history,
    ...(run.disks && Object.keys(run.disks).length > 0 ? { disks: run.disks } : {}),
    pagesRead: run.history.reduce((sum, p) => sum + (p.pagesRead ?? 0), 0) + (run.finalPass?.pagesRead ?? 0),
    ...(run.finalPass ? { finalPagesRead: run.finalPass.pagesRead, finalDirtyPages: run.finalPass.dirtyPages } : {}),
    ...(run.dirtyLog ? { dirtyLog: run.dirtyLog } : {}),
  };
}
