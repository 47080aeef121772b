import type { FerryError } from '@ferry/protocol';
import type { DirtyLogSummary, DiskSummary, EncodingTotals, MigrationResult, MigrationSummary, PacingSummary, PassRecord, PauseStep } from '@ferry/serve';

// The source's events and summary are part of the vocabulary both agents share (@ferry/serve).
export type { DirtyLogSummary, DiskSummary, EncodingTotals, MigrationResult, MigrationSummary, PacingSummary, SourceEvent } from '@ferry/serve';

const NO_PAGES: EncodingTotals = { pagesSent: 0, zeroPages: 0, rawPages: 0, lz4Pages: 0, deltaPages: 0, copyPages: 0, zeroBytes: 0, rawBytes: 0, lz4Bytes: 0, deltaBytes: 0, copyBytes: 0, packedBytesSaved: 0 };

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
  readonly pauseTimeline?: readonly PauseStep[] | undefined;
  readonly pacing?: PacingSummary | undefined;
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
    ...(run.pauseTimeline ? { pauseTimeline: run.pauseTimeline } : {}),
    ...(run.pacing ? { pacing: run.pacing } : {}),
  };
}
