import type { ByteKind, DaemonMetrics, DaemonSummary, SourceEvent } from '@ferry/serve';
type SourceByteKind = Exclude<ByteKind, 'pages'>;

/**
 * Turns one migration's progress events into the source daemon's metrics. Bytes are counted as they go
 * (progress events carry running totals), then settled against the summary, so that once a migration
 * has ended its bytes by kind add up to the summary's `bytesSent` and its pages by encoding equal the
 * summary's counts.
 */
export class SourceMetricsFeed {
  readonly #metrics: DaemonMetrics;
  readonly #migrationId: string;
  readonly #counted: Record<SourceByteKind, number> = { ram: 0, disk: 0, state: 0 };
  #stateBytes = 0;

  constructor(metrics: DaemonMetrics, migrationId: string) {
    this.#metrics = metrics;
    this.#migrationId = migrationId;
    metrics.started();
  }

  event(event: SourceEvent): void {
    switch (event.event) {
      case 'progress':
        this.#countBytes(event.bytesSent, event.diskBytesSent ?? 0);
        this.#metrics.live(this.#migrationId, { pass: event.pass, dirtyRate: event.dirtyRate, sendRate: event.sendRate, throttle: event.throttle, expectedPauseMs: event.expectedPauseMs });
        return;
      case 'pass-end':
        this.#metrics.live(this.#migrationId, { dirtyRate: event.dirtyRate, sendRate: event.sendRate, throttle: event.throttle, expectedPauseMs: event.expectedPauseMs });
        return;
      case 'throttle':
        this.#metrics.live(this.#migrationId, { throttle: event.level });
        return;
      case 'state':
        this.#stateBytes += event.bytes;
        return;
      case 'verify':
        this.#metrics.verified(event.ok, event.mismatchedPages);
        return;
      case 'reconnected':
        this.#metrics.reconnected();
        return;
      default:
        return;
    }
  }

  ended(summary: DaemonSummary): void {
    this.#settleBytes(summary);
    this.#metrics.pages('zero', summary.zeroPages, summary.zeroBytes);
    this.#metrics.pages('raw', summary.rawPages, summary.rawBytes);
    this.#metrics.pages('lz4', summary.lz4Pages, summary.lz4Bytes);
    this.#metrics.pages('xor_lz4', summary.deltaPages, summary.deltaBytes);
    this.#metrics.pages('copy', summary.copyPages, summary.copyBytes);
    this.#metrics.ended(this.#migrationId, {
      result: summary.result, code: summary.error?.code, totalMs: summary.totalMs, passes: summary.passes,
      ...(summary.result === 'committed' ? { pauseMs: summary.pauseMs } : {}),
    });
  }

  /** While it runs: disk bytes, and the rest less the state blobs known so far counts as RAM (pages and control messages). */
  #countBytes(bytesSent: number, diskBytes: number): void {
    this.#grow('disk', diskBytes);
    this.#grow('ram', bytesSent - diskBytes - this.#stateBytes);
  }

  /** At the end, the state blobs take their size out of what is left, so the three kinds add up to `bytesSent`. */
  #settleBytes(summary: DaemonSummary): void {
    const diskBytes = Object.values(summary.disks ?? {}).reduce((sum, disk) => sum + disk.bytesSent, 0);
    this.#grow('disk', diskBytes);
    const notRam = summary.bytesSent - this.#counted.disk - this.#counted.ram;
    this.#grow('state', Math.min(this.#stateBytes, notRam));
    this.#grow('ram', summary.bytesSent - this.#counted.disk - this.#counted.state);
  }

  /** Counters only grow: a running total below what was counted adds nothing. */
  #grow(kind: SourceByteKind, total: number): void {
    const grown = total - this.#counted[kind];
    if (grown <= 0) return;
    this.#metrics.bytes(kind, grown);
    this.#counted[kind] = total;
  }
}

/** A migration that never started (its seams could not be built): counted as started and failed. */
export function countFailedStart(metrics: DaemonMetrics, migrationId: string): void {
  metrics.started();
  metrics.ended(migrationId, { result: 'failed-to-start' });
}
